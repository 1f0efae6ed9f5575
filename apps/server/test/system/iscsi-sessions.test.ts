import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Machine } from '@ggnet/contracts';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  QemuIoSession,
  canLogin,
  fileExists,
  closeIscsiContext,
  fileSha256,
  iscsiPerf,
  iscsiTestContext,
  iscsiUrl,
  qemuOpts,
  readRange,
  readThroughIscsi,
  seedImage,
  sha256,
  tool,
  writeThroughIscsi,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';
import { startWorker, waitJob } from '../helpers/images.js';
import { checksumKey } from '../../src/modules/images/image-checksum.job.js';
import { tgtShowTargets } from '@ggnet/testkit';

const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

/**
 * Sessions against a real tgtd (GGnet's own, supervised; random control port, loopback portal on a
 * free port) with real initiators: libiscsi's tools and QEMU's iSCSI block driver. The data dir is an
 * XFS (reflink=1) filesystem in a loop file, so writebacks are reflink clones.
 */
describeEachDialect('iSCSI sessions (tgtd + libiscsi + qemu)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let portalPort: number;
  let controlPort: number;
  let img: SeededImage;
  let scratch: string;

  beforeAll(async () => {
    // the loop filesystem is small: no reserve unless a test sets one
    ({ t, fs, portalPort, controlPort } = await iscsiTestContext(dialect));
    scratch = join(fs.dir, 'scratch');
    mkdirSync(scratch, { recursive: true });
    img = await seedImage(t.container, 'win11-test');
  });

  afterAll(() => closeIscsiContext(t, controlPort, () => fs?.cleanup()));

  const newMachine = async (name: string, extra: Partial<Machine> = {}) =>
    t.container.machines.create({
      name,
      mac: mac(),
      bootImageId: img.imageId,
      ...(extra.ip !== undefined ? { ip: extra.ip } : {}),
      ...(extra.keepWriteback !== undefined ? { keepWriteback: extra.keepWriteback } : {}),
      ...(extra.extraImageIds ? { extraImageIds: extra.extraImageIds } : {}),
    });

  const start = (machineId: string, mode: 'normal' | 'maintenance' = 'normal') =>
    t.container.orchestrator.startSession({ machineId, mode, clientIp: '127.0.0.1' });

  const wbFile = async (writebackId: string) => {
    const w = await t.container.repos.writebacks.findById(writebackId);
    return t.container.imageFiles.inside(w!.path);
  };

  const liveIqns = async () => (await t.container.iscsi.driver().then((d) => d.list())).map((x) => x.iqn);

  it('starts a session: reflink writeback, target with LUN 1, ACL and CHAP; data written over iSCSI lands in the writeback only', async () => {
    const m = await newMachine('pc-data');
    const masterBefore = await fileSha256(img.file);
    const info = await start(m.id);
    expect(info).toMatchObject({
      state: 'ready',
      targetIqn: 'iqn.2024-01.lan.ggnet:pc-data',
      portalHost: '127.0.0.1',
      portalPort,
      initiatorIqn: m.initiatorIqn,
      reverseChap: null,
    });
    // a CHAP user and secret of this session only
    expect(info.chap.username).toMatch(/^pc-data\.s[0-9a-f]{8}$/);
    expect(info.chap.username).toBe(`pc-data.s${info.sessionId.replace(/-/g, '').slice(0, 8)}`);
    expect(info.luns).toEqual([{ lun: 1, kind: 'boot', imageId: img.imageId, versionId: img.versionId }]);
    expect(info.chap.password).toMatch(/^[A-Za-z0-9]{16}$/);

    const s = await t.container.sessions.get(info.sessionId);
    const wb = await t.container.storage.get(s.writebackId!);
    expect(wb).toMatchObject({ backend: 'reflink', state: 'ready', lun: 1, sizeBytes: img.sizeBytes });
    const file = await wbFile(wb.id);
    // a reflink clone: its extents are shared with the version file
    const frag = await tool('filefrag', ['-v', file]);
    expect(frag.stdout).toMatch(/shared/);

    // GGnet's tgtd pings initiators (NOP-In), so a client that powered off without a logout is dropped
    const shown = await tgtShowTargets(controlPort);
    expect(shown).toMatch(/Nop interval: 5\s+Nop count: 3/);

    const creds = { initiator: info.initiatorIqn, user: info.chap.username, password: info.chap.password };
    const inq = await canLogin(portalPort, info.targetIqn, 1, creds);
    expect(inq.exitCode, inq.stderr).toBe(0);
    expect(inq.stdout).toMatch(/Vendor:GGnet/);
    const cap = await tool('iscsi-readcapacity16', [
      '-i',
      creds.initiator,
      `iscsi://${creds.user}%${creds.password}@127.0.0.1:${portalPort}/${info.targetIqn}/1`,
    ]);
    expect(cap.stdout).toContain(`Total size:${img.sizeBytes}`);
    const ls = await tool('iscsi-ls', [
      '-i',
      creds.initiator,
      '-s',
      `iscsi://${creds.user}%${creds.password}@127.0.0.1:${portalPort}`,
    ]);
    expect(ls.stdout).toContain(info.targetIqn);
    expect(ls.stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS/);
    // libiscsi's iscsi-perf streams sequential reads through the same login
    const perf = await iscsiPerf(iscsiUrl(portalPort, info.targetIqn, 1, creds), creds.initiator, 2);
    expect(perf).toBeGreaterThan(0);

    // qemu-img convert writes 4 MiB at offset 0 through the target; qemu-io 1 MiB at 40 MiB
    const head = randomBytes(4 * 1024 * 1024);
    const headFile = join(scratch, 'head.bin');
    writeFileSync(headFile, head);
    const opts = qemuOpts(portalPort, info.targetIqn, 1, creds);
    const conv = await tool('qemu-img', [
      'convert',
      '-n',
      '-f',
      'raw',
      headFile,
      '--target-image-opts',
      opts,
    ]);
    expect(conv.exitCode, conv.stderr).toBe(0);
    const chunk = randomBytes(1024 * 1024);
    const w = await writeThroughIscsi(opts, 40 * 1024 * 1024, chunk, scratch);
    expect(w.exitCode, w.stderr).toBe(0);

    expect(sha256(await readRange(file, 0, head.length))).toBe(sha256(head));
    expect(sha256(await readRange(file, 40 * 1024 * 1024, chunk.length))).toBe(sha256(chunk));
    // read back through iSCSI equals the writeback file
    const back = await readThroughIscsi(opts, 0, img.sizeBytes, scratch);
    expect(sha256(back)).toBe(await fileSha256(file));
    // the master version is unchanged
    expect(await fileSha256(img.file)).toBe(masterBefore);
    // the writeback now owns the blocks that were written (used bytes > 0, far below the image size)
    const used = (await t.container.storage.get(wb.id)).usedBytes!;
    expect(used).toBeGreaterThanOrEqual(5 * 1024 * 1024);
    expect(used).toBeLessThan(img.sizeBytes);
    rmSync(headFile);
  });

  it('refuses another initiator IQN, a wrong CHAP secret, no CHAP, and the LUN of another machine', async () => {
    const a = await newMachine('pc-ref-a');
    const b = await newMachine('pc-ref-b');
    const ia = await start(a.id);
    const ib = await start(b.id);
    const ok = { initiator: ia.initiatorIqn, user: ia.chap.username, password: ia.chap.password };
    expect((await canLogin(portalPort, ia.targetIqn, 1, ok)).exitCode).toBe(0);

    const otherIqn = await canLogin(portalPort, ia.targetIqn, 1, {
      ...ok,
      initiator: 'iqn.2024-01.lan.ggnet:initiator.intruder',
    });
    expect(otherIqn.exitCode).not.toBe(0);
    expect(otherIqn.stderr + otherIqn.stdout).toMatch(/Target not found|Login Failed/);

    const wrong = await canLogin(portalPort, ia.targetIqn, 1, { ...ok, password: 'WrongSecret12345' });
    expect(wrong.exitCode).not.toBe(0);
    expect(wrong.stderr + wrong.stdout).toMatch(/Authentication failure/);

    const none = await canLogin(portalPort, ia.targetIqn, 1, { initiator: ia.initiatorIqn });
    expect(none.exitCode).not.toBe(0);
    expect(none.stderr + none.stdout).toMatch(/Authentication failure|Login Failed/);

    // machine B, with its own valid identity, cannot reach A's LUN (and A not B's)
    const okB = { initiator: ib.initiatorIqn, user: ib.chap.username, password: ib.chap.password };
    expect((await canLogin(portalPort, ib.targetIqn, 1, okB)).exitCode).toBe(0);
    expect((await canLogin(portalPort, ia.targetIqn, 1, okB)).exitCode).not.toBe(0);
    expect((await canLogin(portalPort, ib.targetIqn, 1, ok)).exitCode).not.toBe(0);
    // and QEMU's driver is refused the same way
    const q = await tool('qemu-io', [
      '--image-opts',
      qemuOpts(portalPort, ia.targetIqn, 1, okB),
      '-c',
      'read 0 512',
    ]);
    expect(q.exitCode).not.toBe(0);
  });

  it('two machines on the same version: writes of one are not visible to the other', async () => {
    const a = await newMachine('pc-iso-a');
    const b = await newMachine('pc-iso-b');
    const ia = await start(a.id);
    const ib = await start(b.id);
    const oa = qemuOpts(portalPort, ia.targetIqn, 1, {
      initiator: ia.initiatorIqn,
      user: ia.chap.username,
      password: ia.chap.password,
    });
    const ob = qemuOpts(portalPort, ib.targetIqn, 1, {
      initiator: ib.initiatorIqn,
      user: ib.chap.username,
      password: ib.chap.password,
    });
    const original = await readRange(img.file, 1024 * 1024, 65536);
    const w = await tool('qemu-io', ['--image-opts', oa, '-c', 'write -P 0x5a 1M 64k']);
    expect(w.exitCode, w.stderr).toBe(0);
    const ra = await tool('qemu-io', ['--image-opts', oa, '-c', 'read -P 0x5a 1M 64k']);
    expect(ra.stdout).toMatch(/read 65536\/65536/);
    expect(ra.stdout).not.toMatch(/verification failed/i);
    const fromB = await readThroughIscsi(ob, 1024 * 1024, 65536, scratch);
    expect(fromB.equals(original)).toBe(true);
    expect(fromB.every((x) => x === 0x5a)).toBe(false);
  });

  it('a reboot ends the previous session, discards its writeback and starts from the published version', async () => {
    const m = await newMachine('pc-reboot');
    const first = await start(m.id);
    const s1 = await t.container.sessions.get(first.sessionId);
    const f1 = await wbFile(s1.writebackId!);
    const o1 = qemuOpts(portalPort, first.targetIqn, 1, {
      initiator: first.initiatorIqn,
      user: first.chap.username,
      password: first.chap.password,
    });
    expect((await tool('qemu-io', ['--image-opts', o1, '-c', 'write -P 0x77 0 64k'])).exitCode).toBe(0);

    const second = await start(m.id);
    const ended = await t.container.sessions.get(first.sessionId);
    expect(ended).toMatchObject({ state: 'ended', endReason: 'rebooted' });
    // the old disk is deleted in the background, after the new session is ready
    expect(['discarding', 'discarded']).toContain((await t.container.storage.get(s1.writebackId!)).state);
    await t.container.storage.idle();
    expect((await t.container.storage.get(s1.writebackId!)).state).toBe('discarded');
    expect(fileExists(f1)).toBe(false);
    const live = await t.container.sessions.list({ limit: 50, offset: 0, machineId: m.id, live: 'true' });
    expect(live.items.map((x) => x.id)).toEqual([second.sessionId]);
    const o2 = qemuOpts(portalPort, second.targetIqn, 1, {
      initiator: second.initiatorIqn,
      user: second.chap.username,
      password: second.chap.password,
    });
    const back = await readThroughIscsi(o2, 0, 65536, scratch);
    expect(back.equals(await readRange(img.file, 0, 65536))).toBe(true);
  });

  it('keep-writeback machines continue on their kept disk at the next boot', async () => {
    const m = await newMachine('pc-keep', { keepWriteback: true });
    const first = await start(m.id);
    const o1 = qemuOpts(portalPort, first.targetIqn, 1, {
      initiator: first.initiatorIqn,
      user: first.chap.username,
      password: first.chap.password,
    });
    expect((await tool('qemu-io', ['--image-opts', o1, '-c', 'write -P 0x33 2M 64k'])).exitCode).toBe(0);
    const second = await start(m.id);
    const s1 = await t.container.sessions.get(first.sessionId);
    const s2 = await t.container.sessions.get(second.sessionId);
    expect(s2.writebackId).toBe(s1.writebackId);
    const o2 = qemuOpts(portalPort, second.targetIqn, 1, {
      initiator: second.initiatorIqn,
      user: second.chap.username,
      password: second.chap.password,
    });
    const r = await tool('qemu-io', ['--image-opts', o2, '-c', 'read -P 0x33 2M 64k']);
    expect(r.stdout).toMatch(/read 65536\/65536/);
  });

  it('POST /sessions/{id}/stop removes the target and the writeback; keepWriteback keeps it', async () => {
    const m = await newMachine('pc-stop');
    const info = await start(m.id);
    const s = await t.container.sessions.get(info.sessionId);
    const file = await wbFile(s.writebackId!);
    expect(await liveIqns()).toContain(info.targetIqn);
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/sessions/${info.sessionId}/stop`,
      headers: await t.auth('operator'),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ state: 'ended', endReason: 'stopped' });
    expect(await liveIqns()).not.toContain(info.targetIqn);
    expect(fileExists(file)).toBe(false);
    expect(await t.container.repos.targets.findByIqn(info.targetIqn)).toBeUndefined();
    const again = await t.app.inject({
      method: 'POST',
      url: `/api/v1/sessions/${info.sessionId}/stop`,
      headers: await t.auth('operator'),
    });
    expect(again.statusCode).toBe(409);

    const info2 = await start(m.id);
    const s2 = await t.container.sessions.get(info2.sessionId);
    const kept = await t.app.inject({
      method: 'POST',
      url: `/api/v1/sessions/${info2.sessionId}/stop`,
      headers: await t.auth('operator'),
      payload: { keepWriteback: true },
    });
    expect(kept.statusCode).toBe(200);
    const wb = await t.container.storage.get(s2.writebackId!);
    expect(wb).toMatchObject({ state: 'kept', kept: true });
    expect(fileExists(await wbFile(wb.id))).toBe(true);
    // a kept writeback can be discarded by an operator
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/writebacks/${wb.id}`,
      headers: await t.auth('operator'),
    });
    expect(del.statusCode).toBe(204);
    expect((await t.container.storage.get(wb.id)).state).toBe('discarded');
  });

  it('concurrent starts: different machines in parallel, the same machine ends with exactly one live session', async () => {
    const ms = await Promise.all(['pc-par-1', 'pc-par-2', 'pc-par-3'].map((n) => newMachine(n)));
    const infos = await Promise.all(ms.map((m) => start(m.id)));
    expect(new Set(infos.map((i) => i.targetIqn)).size).toBe(3);
    for (const i of infos) {
      expect(
        (
          await canLogin(portalPort, i.targetIqn, 1, {
            initiator: i.initiatorIqn,
            user: i.chap.username,
            password: i.chap.password,
          })
        ).exitCode,
      ).toBe(0);
    }
    const same = await newMachine('pc-race');
    const results = await Promise.allSettled([start(same.id), start(same.id), start(same.id)]);
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    const live = await t.container.sessions.list({ limit: 50, offset: 0, machineId: same.id, live: 'true' });
    expect(live.total).toBe(1);
    const last = (results[2] as PromiseFulfilledResult<{ sessionId: string }>).value;
    expect(live.items[0]!.id).toBe(last.sessionId);
    // exactly one target and one live writeback for the machine on the host
    expect((await liveIqns()).filter((x) => x === 'iqn.2024-01.lan.ggnet:pc-race')).toHaveLength(1);
    await t.container.storage.idle();
    const wbs = await t.container.storage.list({ limit: 50, offset: 0, machineId: same.id, live: 'true' });
    expect(wbs.total).toBe(1);
  });

  it('the monitor sees logins (active, iscsi_login), logouts and ends idle sessions', async () => {
    const m = await newMachine('pc-mon');
    const info = await start(m.id);
    const q = new QemuIoSession(
      qemuOpts(portalPort, info.targetIqn, 1, {
        initiator: info.initiatorIqn,
        user: info.chap.username,
        password: info.chap.password,
      }),
    );
    try {
      await q.cmd('read 0 4k', /read 4096\/4096/);
      await t.container.sessionMonitor.tick();
      const s = await t.container.sessions.get(info.sessionId);
      expect(s.state).toBe('active');
      expect(s.activeAt).not.toBeNull();
      expect(s.connections).toEqual([{ initiator: info.initiatorIqn, address: '127.0.0.1' }]);
      // the targets API shows the live connection
      const res = await t.app.inject({
        method: 'GET',
        url: `/api/v1/targets?machineId=${m.id}`,
        headers: await t.auth('viewer'),
      });
      expect(res.json().items[0].connections).toEqual([
        { initiator: info.initiatorIqn, address: '127.0.0.1' },
      ]);
      expect(res.json().items[0].chapSecret).toBeUndefined();
    } finally {
      await q.close();
    }
    await t.container.sessionMonitor.tick();
    const events = await t.container.sessions.timeline(info.sessionId);
    expect(events.map((e) => e.kind)).toEqual(['iscsi_login', 'iscsi_logout']);
    expect(events[0]!.detail).toMatchObject({
      initiator: info.initiatorIqn,
      address: '127.0.0.1',
      target: info.targetIqn,
    });

    // no connection for longer than sessions.idleTimeoutSec: ended as idle, target and writeback gone
    const old = new Date(Date.now() - 3600_000).toISOString();
    await t.container.repos.sessions.update(info.sessionId, {
      last_activity_at: old,
      ready_at: old,
      started_at: old,
    });
    await t.container.sessionMonitor.tick();
    expect(await t.container.sessions.get(info.sessionId)).toMatchObject({
      state: 'ended',
      endReason: 'idle',
    });
    expect(await liveIqns()).not.toContain(info.targetIqn);
  });

  it("a login from another address than the machine's fixed IP is refused by the target itself", async () => {
    const m = await newMachine('pc-ip', { ip: '10.200.0.9' });
    const info = await start(m.id);
    const target = await t.container.repos.targets.findByIqn(info.targetIqn);
    expect(target!.allowed_address).toBe('10.200.0.9');
    // bound by address only: tgt lets a login in when its address OR its name is listed
    const live = () =>
      t.container.iscsi.driver().then(async (d) => (await d.list()).find((x) => x.iqn === info.targetIqn)!);
    expect(await live()).toMatchObject({ addresses: ['10.200.0.9'], initiators: [] });
    const creds = { initiator: info.initiatorIqn, user: info.chap.username, password: info.chap.password };
    // the right name and the right secret from 127.0.0.1: the login itself is refused, no byte is read
    const login = await canLogin(portalPort, info.targetIqn, 1, creds);
    expect(login.exitCode).not.toBe(0);
    expect(`${login.stdout}${login.stderr}`).toMatch(/not found|failed|refused/i);
    const read = await tool('qemu-img', [
      'info',
      '--image-opts',
      qemuOpts(portalPort, info.targetIqn, 1, creds),
    ]);
    expect(read.exitCode).not.toBe(0);
    expect((await live()).connections).toEqual([]);
    // nothing ever got in, so the monitor has nobody to drop
    await t.container.sessionMonitor.tick();
    const events = await t.container.sessions.timeline(info.sessionId);
    expect(events.filter((e) => e.kind === 'error' || e.kind === 'iscsi_login')).toEqual([]);
    expect((await t.container.sessions.get(info.sessionId)).state).toBe('ready');
    // the reconciler sees no drift in an address-bound target
    expect((await t.container.reconciler.run('test')).targetsRepaired).toBe(0);
  });

  it('maintenance: one per image; apply turns the writeback into a new version without copying', async () => {
    const m = await newMachine('pc-maint');
    const other = await newMachine('pc-maint-2');
    const info = await start(m.id, 'maintenance');
    await expect(start(other.id, 'maintenance')).rejects.toMatchObject({ code: 'maintenance_in_progress' });
    const opts = qemuOpts(portalPort, info.targetIqn, 1, {
      initiator: info.initiatorIqn,
      user: info.chap.username,
      password: info.chap.password,
    });
    expect((await tool('qemu-io', ['--image-opts', opts, '-c', 'write -P 0x42 8M 1M'])).exitCode).toBe(0);
    const s = await t.container.sessions.get(info.sessionId);
    const wbPath = await wbFile(s.writebackId!);
    const wbSha = await fileSha256(wbPath);
    const { ino } = await import('node:fs').then((f) => f.statSync(wbPath));

    // while a client is logged in, apply is refused
    const q = new QemuIoSession(opts);
    try {
      await q.cmd('read 0 4k', /read 4096\/4096/);
      const refused = await t.app.inject({
        method: 'POST',
        url: `/api/v1/sessions/${info.sessionId}/apply`,
        headers: await t.auth('operator'),
        payload: { comment: 'installed updates' },
      });
      expect(refused.statusCode).toBe(409);
      expect(refused.json().code).toBe('session_connected');
    } finally {
      await q.close();
    }

    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/sessions/${info.sessionId}/apply`,
      headers: await t.auth('operator'),
      payload: { comment: 'installed updates', publish: true },
    });
    expect(res.statusCode, res.body).toBe(201);
    const v = res.json();
    expect(v).toMatchObject({
      number: 2,
      state: 'ready',
      comment: 'installed updates',
      published: true,
      parentVersionId: img.versionId,
      author: 'test-operator',
    });
    // the apply answers at once; the sha256 of the new version comes from its checksum job
    expect(v.sha256).toBeNull();
    const checksum = await t.container.jobs.activeByKey(checksumKey(v.id));
    const worker = startWorker(t);
    try {
      expect((await waitJob(t, checksum!.id)).state).toBe('succeeded');
    } finally {
      await worker.stop();
    }
    expect((await t.container.images.getVersion(img.imageId, v.id)).sha256).toBe(wbSha);
    const vrow = await t.container.repos.images.findVersionById(v.id);
    const vfile = t.container.imageFiles.inside(vrow!.path!);
    // the writeback file became the version file: same inode, nothing copied
    expect((await import('node:fs').then((f) => f.statSync(vfile))).ino).toBe(ino);
    expect(fileExists(wbPath)).toBe(false);
    expect(await t.container.sessions.get(info.sessionId)).toMatchObject({
      state: 'ended',
      endReason: 'applied',
    });
    expect(await t.container.storage.get(s.writebackId!)).toMatchObject({
      state: 'discarded',
      appliedVersionId: v.id,
    });
    // the next boot gets the new version, with the maintenance data in it
    const next = await start(other.id);
    expect(next.luns[0]!.versionId).toBe(v.id);
    const o2 = qemuOpts(portalPort, next.targetIqn, 1, {
      initiator: next.initiatorIqn,
      user: next.chap.username,
      password: next.chap.password,
    });
    expect((await tool('qemu-io', ['--image-opts', o2, '-c', 'read -P 0x42 8M 1M'])).stdout).toMatch(
      /read 1048576\/1048576/,
    );
    // restore the published version for the other tests
    await t.container.images.publishVersion(img.imageId, img.versionId);
  });

  it('apply with force takes a snapshot while the client keeps running', async () => {
    const m = await newMachine('pc-snap');
    const info = await start(m.id, 'maintenance');
    const opts = qemuOpts(portalPort, info.targetIqn, 1, {
      initiator: info.initiatorIqn,
      user: info.chap.username,
      password: info.chap.password,
    });
    const q = new QemuIoSession(opts);
    try {
      await q.cmd('write -P 0x24 4M 64k', /wrote 65536\/65536/);
      const res = await t.app.inject({
        method: 'POST',
        url: `/api/v1/sessions/${info.sessionId}/apply`,
        headers: await t.auth('operator'),
        payload: { comment: 'snapshot', force: true },
      });
      expect(res.statusCode, res.body).toBe(201);
      const vrow = await t.container.repos.images.findVersionById(res.json().id);
      const snap = await readRange(t.container.imageFiles.inside(vrow!.path!), 4 * 1024 * 1024, 65536);
      expect(snap.every((x) => x === 0x24)).toBe(true);
      // still connected, still writing
      await q.cmd('write -P 0x25 4M 64k', /wrote 65536\/65536/);
      expect((await t.container.sessions.get(info.sessionId)).state).not.toBe('ended');
    } finally {
      await q.close();
    }
    await t.container.sessions.stop(info.sessionId);
  });

  it('refuses new disks below storage.reserveBytes with 507 while booted clients keep running', async () => {
    const m = await newMachine('pc-full');
    const running = await newMachine('pc-running');
    const r = await start(running.id);
    await t.container.settings.update({ storage: { reserveBytes: 1024 ** 5 } }, 'test');
    try {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        headers: await t.auth('admin'),
        payload: { machineId: m.id },
      });
      expect(res.statusCode).toBe(507);
      expect(res.json()).toMatchObject({ code: 'insufficient_storage' });
      expect(res.json().hint).toMatch(/reserve/);
      // nothing half-made: no target, the failed session ended with the error
      expect(await liveIqns()).not.toContain('iqn.2024-01.lan.ggnet:pc-full');
      const sessions = await t.container.sessions.list({ limit: 5, offset: 0, machineId: m.id });
      expect(sessions.items[0]).toMatchObject({ state: 'ended', endReason: 'error' });
      const storage = await t.app.inject({
        method: 'GET',
        url: '/api/v1/storage',
        headers: await t.auth('viewer'),
      });
      expect(storage.json()).toMatchObject({ backend: 'reflink', belowReserve: true });
      // the running client is untouched
      expect(
        (
          await canLogin(portalPort, r.targetIqn, 1, {
            initiator: r.initiatorIqn,
            user: r.chap.username,
            password: r.chap.password,
          })
        ).exitCode,
      ).toBe(0);
    } finally {
      await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
    }
  });

  it('manual targets: POST creates one with a fresh writeback and CHAP, DELETE removes both', async () => {
    const m = await newMachine('pc-manual');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/targets',
      headers: await t.auth('admin'),
      payload: { machineId: m.id, mutualChap: true },
    });
    expect(res.statusCode, res.body).toBe(201);
    const tg = res.json();
    expect(tg.iqn).toMatch(/^iqn\.2024-01\.lan\.ggnet:pc-manual\.m[0-9a-f]{6}$/);
    expect(tg).toMatchObject({
      state: 'active',
      sessionId: null,
      mutualChap: true,
      portal: `127.0.0.1:${portalPort}`,
    });
    expect(tg.chapSecret).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(tg.luns[0]).toMatchObject({ lun: 1, imageId: img.imageId, versionId: img.versionId });
    const login = await canLogin(portalPort, tg.iqn, 1, {
      initiator: m.initiatorIqn,
      user: tg.chapUser,
      password: tg.chapSecret,
    });
    expect(login.exitCode, login.stderr).toBe(0);
    const viewer = await t.app.inject({
      method: 'POST',
      url: '/api/v1/targets',
      headers: await t.auth('operator'),
      payload: { machineId: m.id },
    });
    expect(viewer.statusCode).toBe(403);
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/v1/targets',
      headers: await t.auth('admin'),
      payload: { machineId: m.id, initiatorIqn: 'not an iqn' },
    });
    expect(bad.statusCode).toBe(400);

    const wbFilePath = await wbFile(tg.luns[0].writebackId);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/targets/${tg.id}`,
      headers: await t.auth('admin'),
    });
    expect(del.statusCode).toBe(204);
    expect(await liveIqns()).not.toContain(tg.iqn);
    expect(fileExists(wbFilePath)).toBe(false);

    // a session's target is stopped through its session
    const info = await start(m.id);
    const st = await t.container.repos.targets.findByIqn(info.targetIqn);
    const refused = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/targets/${st!.id}`,
      headers: await t.auth('admin'),
    });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('target_owned_by_session');
  });

  it('documents the storage and iSCSI routes in the OpenAPI document', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    const paths = Object.keys(res.json().paths);
    for (const p of [
      '/api/v1/storage',
      '/api/v1/writebacks',
      '/api/v1/writebacks/{id}',
      '/api/v1/writebacks/{id}/apply',
      '/api/v1/targets',
      '/api/v1/targets/{id}',
      '/api/v1/iscsi',
      '/api/v1/sessions',
      '/api/v1/sessions/{id}/stop',
      '/api/v1/sessions/{id}/apply',
    ])
      expect(paths).toContain(p);
    // the reconciler's own status, shown beside the target side's
    const report = await t.container.reconciler.run('test');
    const iscsi = await t.app.inject({
      method: 'GET',
      url: '/api/v1/iscsi',
      headers: await t.auth('viewer'),
    });
    expect(iscsi.json()).toMatchObject({
      backend: 'tgt',
      portal: `127.0.0.1:${portalPort}`,
      daemon: { state: 'running', controlPort, adopted: false },
      lastReconcileAt: t.container.reconciler.lastReconcileAt,
      lastReconcileError: report.errors.length ? report.errors.join('; ') : null,
    });
    expect(Date.parse(iscsi.json().lastReconcileAt)).toBeGreaterThan(0);
  });

  it('extra disks: each image is its own LUN with its own writeback', async () => {
    const games = await seedImage(t.container, 'games-test', { sizeMiB: 32, dataMiB: 2 });
    const m = await newMachine('pc-games', { extraImageIds: [games.imageId] });
    const info = await start(m.id);
    expect(info.luns).toEqual([
      { lun: 1, kind: 'boot', imageId: img.imageId, versionId: img.versionId },
      { lun: 2, kind: 'extra', imageId: games.imageId, versionId: games.versionId },
    ]);
    const cap = await tool('iscsi-readcapacity16', [
      '-i',
      info.initiatorIqn,
      `iscsi://${info.chap.username}%${info.chap.password}@127.0.0.1:${portalPort}/${info.targetIqn}/2`,
    ]);
    expect(cap.stdout).toContain(`Total size:${games.sizeBytes}`);
    const wbs = await t.container.storage.list({ limit: 10, offset: 0, machineId: m.id, live: 'true' });
    expect(wbs.items.map((w) => w.lun).sort()).toEqual([1, 2]);
  });
});
