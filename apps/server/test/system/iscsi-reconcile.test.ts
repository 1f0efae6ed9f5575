import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTargetFromSpec } from '../../src/adapters/iscsi/iscsi-target.adapter.js';
import { TgtDriver, TgtSecretTransportError } from '../../src/adapters/iscsi/tgt.adapter.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  QemuIoSession,
  canLogin,
  closeIscsiContext,
  fileExists,
  freePort,
  iscsiConfig,
  makeLoopFs,
  qemuOpts,
  runner,
  seedImage,
  tool,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';

const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

/**
 * The reconciler against a real tgtd: the database says what should exist, the host is changed behind
 * GGnet's back, one pass makes it match again, without pulling the disk of a logged-in client.
 */
describeEachDialect('reconciler (tgtd)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let portalPort: number;
  let controlPort: number;
  let img: SeededImage;
  const tgtadm = (...args: string[]) =>
    tool('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', ...args]);
  const show = async () =>
    (await t.container.iscsi.driver()).list() as Promise<
      Array<{
        iqn: string;
        tid?: number;
        initiators: string[];
        luns: { lun: number; path: string }[];
        connections: unknown[];
      }>
    >;

  beforeAll(async () => {
    fs = await makeLoopFs('xfs');
    const ic = await iscsiConfig({ dataDir: join(fs.dir, 'data') });
    portalPort = ic.portalPort;
    controlPort = ic.config.tgtControlPort as number;
    t = await createTestContext(dialect, { config: ic.config, app: false });
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
    await t.container.iscsi.start();
    img = await seedImage(t.container, 'reconcile-img');
  });

  afterAll(() => closeIscsiContext(t, controlPort, () => fs?.cleanup()));

  const newSession = async (name: string) => {
    const m = await t.container.machines.create({ name, mac: mac(), bootImageId: img.imageId });
    const info = await t.container.orchestrator.startSession({
      machineId: m.id,
      mode: 'normal',
      clientIp: null,
    });
    const creds = { initiator: info.initiatorIqn, user: info.chap.username, password: info.chap.password };
    return { m, info, creds };
  };

  it('recreates a target removed behind its back and repairs a removed ACL; data in the writeback survives', async () => {
    const { info, creds } = await newSession('rc-missing');
    const opts = qemuOpts(portalPort, info.targetIqn, 1, creds);
    expect((await tool('qemu-io', ['--image-opts', opts, '-c', 'write -P 0x61 1M 64k'])).exitCode).toBe(0);
    const tid = (await show()).find((x) => x.iqn === info.targetIqn)!.tid!;
    expect(
      (await tgtadm('--op', 'delete', '--mode', 'target', '--force', '--tid', String(tid))).exitCode,
    ).toBe(0);
    expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).not.toBe(0);

    const r1 = await t.container.reconciler.run('test');
    expect(r1.targetsCreated).toBe(1);
    expect(r1.errors).toEqual([]);
    expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).toBe(0);
    const read = await tool('qemu-io', ['--image-opts', opts, '-c', 'read -P 0x61 1M 64k']);
    expect(read.stdout).toMatch(/read 65536\/65536/);

    // ACL removed by hand: repaired in place
    const tid2 = (await show()).find((x) => x.iqn === info.targetIqn)!.tid!;
    await tgtadm(
      '--op',
      'unbind',
      '--mode',
      'target',
      '--tid',
      String(tid2),
      '--initiator-name',
      creds.initiator,
    );
    expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).not.toBe(0);
    const r2 = await t.container.reconciler.run('test');
    expect(r2.targetsRepaired).toBe(1);
    expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).toBe(0);
    // idempotent: a second pass changes nothing
    const r3 = await t.container.reconciler.run('test');
    expect(r3.targetsCreated + r3.targetsRepaired + r3.targetsRemoved + r3.orphanTargetsRemoved).toBe(0);
  });

  it('drives tgtd through its socket; the tgtadm fallback reads and writes the same state', async () => {
    const driver = (await t.container.iscsi.pool())!.member(0);
    expect(await driver.transport()).toBe('ipc');
    const cli = new TgtDriver(runner, controlPort, { transport: 'tgtadm' });
    expect(await cli.transport()).toBe('tgtadm');
    const { info, creds } = await newSession('rc-transport');
    const viaIpc = (await driver.list()).find((x) => x.iqn === info.targetIqn);
    const viaCli = (await cli.list()).find((x) => x.iqn === info.targetIqn);
    expect(viaCli).toEqual(viaIpc);
    // a target made through tgtadm is seen (and removed) through the socket
    const s = await t.container.sessions.get(info.sessionId);
    const wb = await t.container.repos.writebacks.findById(s.writebackId!);
    const iqn = 'iqn.2024-01.lan.ggnet:rc-transport.cli';
    const spec = {
      iqn,
      luns: [{ lun: 1, path: t.container.imageFiles.inside(wb!.path), serial: 'cafe01' }],
      initiatorIqn: creds.initiator,
      chap: { user: 'rc-transport.cli', secret: creds.password },
      mutual: null,
    };
    // a CHAP secret never goes on tgtadm's command line: the fallback refuses the account, and the
    // half-made target goes again (no target without CHAP is left behind)
    await expect(createTargetFromSpec(cli, spec)).rejects.toBeInstanceOf(TgtSecretTransportError);
    expect((await driver.list()).some((x) => x.iqn === iqn)).toBe(false);
    expect(await driver.accounts()).not.toContain('rc-transport.cli');
    // everything else works through tgtadm, with the account made through the socket
    await cli.createTarget(iqn);
    await cli.addLun(iqn, spec.luns[0]!);
    await driver.setChap(iqn, creds.initiator, spec.chap, null);
    await cli.bindInitiator(iqn, creds.initiator);
    expect((await canLogin(portalPort, iqn, 1, { ...creds, user: 'rc-transport.cli' })).exitCode).toBe(0);
    expect((await cli.list()).find((x) => x.iqn === iqn)?.chapUsers).toEqual(['rc-transport.cli']);
    expect(await cli.accounts()).toContain('rc-transport.cli');
    await driver.deleteTarget(iqn, { force: true });
    expect((await cli.list()).some((x) => x.iqn === iqn)).toBe(false);
    expect(await cli.accounts()).not.toContain('rc-transport.cli');
  });

  it('per-session CHAP accounts: a missing one is made again from the row, foreign and ended ones are deleted', async () => {
    const driver = (await t.container.iscsi.pool())!.member(0);
    const { info, creds } = await newSession('rc-accounts');
    expect(info.chap.username).toMatch(/^rc-accounts\.s[0-9a-f]{8}$/);
    expect(await driver.accounts()).toContain(info.chap.username);
    const q = new QemuIoSession(qemuOpts(portalPort, info.targetIqn, 1, creds));
    try {
      await q.cmd('write -P 0x33 0 64k', /wrote 65536\/65536/);
      // the account goes behind GGnet's back (a GGnet that stopped half-way, a hand-made tgtadm call):
      // the target would take logins without CHAP; the reconciler makes the account from the row again
      await driver.deleteAccount(info.chap.username);
      expect((await driver.list()).find((x) => x.iqn === info.targetIqn)?.chapUsers).toEqual([]);
      const r1 = await t.container.reconciler.run('test');
      expect(r1.targetsRepaired).toBe(1);
      expect((await driver.list()).find((x) => x.iqn === info.targetIqn)?.chapUsers).toEqual([
        info.chap.username,
      ]);
      expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).toBe(0);
      expect(
        (await canLogin(portalPort, info.targetIqn, 1, { ...creds, user: undefined })).exitCode,
      ).not.toBe(0);
      // an account of an older session still bound to the target (its secret must be worth nothing),
      // and one left behind unbound: both go, the session's own stays
      await driver.setChap(
        info.targetIqn,
        creds.initiator,
        { user: 'rc-accounts.sdeadbeef', secret: 'OldSecret1234567' },
        null,
      );
      await driver.setChap(
        info.targetIqn,
        creds.initiator,
        { user: 'rc-accounts.sfeedf00d', secret: 'OldSecret7654321' },
        null,
      );
      const tid = (await driver.list()).find((x) => x.iqn === info.targetIqn)!.tid;
      await tgtadm(
        '--op',
        'unbind',
        '--mode',
        'account',
        '--tid',
        String(tid),
        '--user',
        'rc-accounts.sfeedf00d',
      );
      const old = { ...creds, user: 'rc-accounts.sdeadbeef', password: 'OldSecret1234567' };
      expect((await canLogin(portalPort, info.targetIqn, 1, old)).exitCode).toBe(0);
      const r2 = await t.container.reconciler.run('test');
      expect(r2.targetsRepaired).toBe(1);
      expect(r2.accountsRemoved).toBe(1);
      expect(r2.errors).toEqual([]);
      expect((await canLogin(portalPort, info.targetIqn, 1, old)).exitCode).not.toBe(0);
      expect(await driver.accounts()).not.toEqual(expect.arrayContaining(['rc-accounts.sdeadbeef']));
      expect(await driver.accounts()).not.toContain('rc-accounts.sfeedf00d');
      expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).toBe(0);
      // the client never lost its disk
      await q.cmd('read -P 0x33 0 64k', /read 65536\/65536/);
      // ending the session deletes its account from tgtd, not only the binding
      await t.container.orchestrator.endSession(info.sessionId, 'stopped');
      expect(await driver.accounts()).not.toContain(info.chap.username);
      expect((await t.container.reconciler.run('test')).accountsRemoved).toBe(0);
    } finally {
      await q.close();
    }
  });

  it('moves the portal live: clients reach the new address, not the old one', async () => {
    const { info, creds } = await newSession('rc-portal');
    const other = await freePort();
    const driver = await t.container.iscsi.driver();
    await driver.ensurePortal('127.0.0.1', other);
    try {
      expect((await canLogin(other, info.targetIqn, 1, creds)).exitCode).toBe(0);
      expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).not.toBe(0);
    } finally {
      // the next pass puts the portal of the settings back
      await t.container.reconciler.run('test');
    }
    expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).toBe(0);
    expect((await canLogin(other, info.targetIqn, 1, creds)).exitCode).not.toBe(0);
  });

  it('removes orphans: targets in its namespace that no row describes, and writeback files without a row', async () => {
    const orphanIqn = 'iqn.2024-01.lan.ggnet:orphan-pc';
    const foreignIqn = 'iqn.2020-01.com.example:not-ours';
    // left under an IQN domain GGnet used before the admin changed it
    const formerIqn = 'iqn.2023-05.lan.oldname:pc-7';
    await t.container.repos.targets.notePrefix('iqn.2023-05.lan.oldname');
    await tgtadm('--op', 'new', '--mode', 'target', '--tid', '900', '--targetname', orphanIqn);
    await tgtadm('--op', 'new', '--mode', 'target', '--tid', '901', '--targetname', foreignIqn);
    await tgtadm('--op', 'new', '--mode', 'target', '--tid', '902', '--targetname', formerIqn);
    const dir = join(t.dataDir === t.config.dataDir ? t.config.dataDir : t.config.dataDir, 'writebacks');
    mkdirSync(dir, { recursive: true });
    const orphanFile = join(dir, '00000000-0000-4000-8000-000000000001.raw');
    const freshFile = join(dir, '00000000-0000-4000-8000-000000000002.raw');
    writeFileSync(orphanFile, 'x');
    writeFileSync(freshFile, 'x');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(orphanFile, old, old);

    const r = await t.container.reconciler.run('test');
    const iqns = (await show()).map((x) => x.iqn);
    expect(iqns).not.toContain(orphanIqn);
    expect(iqns).not.toContain(formerIqn);
    // only GGnet's namespace (every prefix it has named a target under) is managed
    expect(iqns).toContain(foreignIqn);
    expect(r.orphanTargetsRemoved).toBe(2);
    expect(fileExists(orphanFile)).toBe(false);
    // a file younger than the grace period may be a writeback being made right now
    expect(fileExists(freshFile)).toBe(true);
    await tgtadm('--op', 'delete', '--mode', 'target', '--force', '--tid', '901');
    // every target GGnet names records its prefix, so a later change of the IQN domain leaves
    // nothing behind that the reconciler would not recognise
    const { info } = await newSession('rc-prefix');
    expect(await t.container.repos.targets.prefixes()).toContain(info.targetIqn.split(':')[0]);
  });

  it('finishes an interrupted end: a session marked ended whose target and writeback are still there', async () => {
    const { info, creds } = await newSession('rc-ended');
    const s = await t.container.sessions.get(info.sessionId);
    const wb = await t.container.repos.writebacks.findById(s.writebackId!);
    const file = t.container.imageFiles.inside(wb!.path);
    // as if GGnet crashed right after writing "ended"
    await t.container.repos.sessions.update(info.sessionId, {
      state: 'ended',
      end_reason: 'stopped',
      ended_at: new Date().toISOString(),
    });
    const r = await t.container.reconciler.run('test');
    expect(r.targetsRemoved).toBeGreaterThanOrEqual(1);
    expect((await show()).map((x) => x.iqn)).not.toContain(info.targetIqn);
    expect((await canLogin(portalPort, info.targetIqn, 1, creds)).exitCode).not.toBe(0);
    // the writeback row still says ready: its session is gone, so after the grace period it is discarded
    await t.container.repos.writebacks.update(wb!.id, {
      created_at: new Date(Date.now() - 3600_000).toISOString(),
    });
    await t.container.reconciler.run('test');
    expect((await t.container.repos.writebacks.findById(wb!.id))!.state).toBe('discarded');
    expect(fileExists(file)).toBe(false);
  });

  it('rolls back an apply interrupted by a crash: the file goes back and the writeback is kept', async () => {
    const { info, creds } = await newSession('rc-apply');
    const q = new QemuIoSession(qemuOpts(portalPort, info.targetIqn, 1, creds));
    try {
      await q.cmd('write -P 0x5a 1M 64k', /wrote 65536\/65536/);
    } finally {
      await q.close();
    }
    await t.container.sessions.stop(info.sessionId, { keepWriteback: true });
    const s = await t.container.sessions.get(info.sessionId);
    const wb = (await t.container.repos.writebacks.findById(s.writebackId!))!;
    expect(wb.state).toBe('kept');
    const file = t.container.imageFiles.inside(wb.path);
    const before = createHash('sha256').update(readFileSync(file)).digest('hex');
    // as if the server died after the move-apply renamed the file, before the version existed
    const dir = t.container.imageFiles.inside(join('images', wb.image_id));
    mkdirSync(dir, { recursive: true });
    renameSync(file, join(dir, `.apply-${wb.id}-1700000000000.raw`));
    writeFileSync(join(dir, `.apply-${wb.id}-1600000000000.raw`), 'older leftover');
    await t.container.repos.writebacks.update(wb.id, { state: 'applying' });
    const versionsBefore = (await t.container.images.listVersions(wb.image_id)).length;

    const r = await t.container.reconciler.run('test');
    expect(r.appliesRecovered).toBe(1);
    expect((await t.container.repos.writebacks.findById(wb.id))!.state).toBe('kept');
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(before);
    expect(readdirSync(dir).filter((n) => n.startsWith('.apply-'))).toEqual([]);
    // and it can be applied for real now
    const v = await t.container.storage.apply(wb.id, { comment: 'after the crash' }, 'test');
    expect(v.comment).toBe('after the crash');
    expect((await t.container.images.listVersions(wb.image_id)).length).toBe(versionsBefore + 1);

    // with no copy left anywhere, the row stops claiming a file
    const other = await newSession('rc-apply-lost');
    await t.container.sessions.stop(other.info.sessionId, { keepWriteback: true });
    const wb2 = (await t.container.repos.writebacks.findById(
      (await t.container.sessions.get(other.info.sessionId)).writebackId!,
    ))!;
    rmSync(t.container.imageFiles.inside(wb2.path));
    await t.container.repos.writebacks.update(wb2.id, { state: 'applying' });
    await t.container.reconciler.run('test');
    expect((await t.container.repos.writebacks.findById(wb2.id))!).toMatchObject({
      state: 'discarded',
      error: expect.stringMatching(/stopped while applying/),
    });
  });

  it('never pulls the disk of a client logged in to an active session, even when the row says otherwise', async () => {
    const { info, creds } = await newSession('rc-busy');
    const q = new QemuIoSession(qemuOpts(portalPort, info.targetIqn, 1, creds));
    try {
      await q.cmd('write -P 0x11 0 64k', /wrote 65536\/65536/);
      await t.container.sessionMonitor.tick();
      expect((await t.container.sessions.get(info.sessionId)).state).toBe('active');
      // the row now points the LUN at another writeback: repairing would swap the disk under the client
      const other = await t.container.storage.create({
        machineId: (await t.container.sessions.get(info.sessionId)).machineId,
        imageId: img.imageId,
        versionId: img.versionId,
        sessionId: info.sessionId,
        targetId: null,
        lun: 1,
      });
      const row = (await t.container.repos.targets.findByIqn(info.targetIqn))!;
      const luns = JSON.parse(row.luns);
      const before = luns[0].writebackId;
      luns[0].writebackId = other.id;
      await t.container.repos.targets.update(row.id, { luns: JSON.stringify(luns) });
      const r = await t.container.reconciler.run('test');
      expect(r.skipped).toContain(info.targetIqn);
      const live = (await show()).find((x) => x.iqn === info.targetIqn)!;
      expect(live.luns.find((l) => l.lun === 1)!.path).toContain(before);
      await q.cmd('read -P 0x11 0 64k', /read 65536\/65536/);
      luns[0].writebackId = before;
      await t.container.repos.targets.update(row.id, { luns: JSON.stringify(luns) });
      await t.container.storage.discard(other.id);
    } finally {
      await q.close();
    }
  });

  it('tgtd killed: the supervisor restarts it, the reconciler recreates the targets, the client reconnects and keeps its data', async () => {
    t.container.reconciler.start(60_000);
    const { info, creds } = await newSession('rc-crash');
    const q = new QemuIoSession(qemuOpts(portalPort, info.targetIqn, 1, creds));
    try {
      await q.cmd('write -P 0x7e 2M 64k', /wrote 65536\/65536/);
      const pid = t.container.iscsi.daemonPid!;
      process.kill(pid, 'SIGKILL');
      // wait for the supervisor (health check every 3 s) and the reconcile it triggers
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const p = t.container.iscsi.daemonPid;
        if (p && p !== pid && (await show().catch(() => [])).some((x) => x.iqn === info.targetIqn)) break;
        await sleep(250);
      }
      expect(t.container.iscsi.daemonPid).not.toBe(pid);
      expect((await show()).map((x) => x.iqn)).toContain(info.targetIqn);
      // QEMU's iSCSI driver logs in again by itself; the data written before the crash is there
      await q.cmd('read -P 0x7e 2M 64k', /read 65536\/65536/, 60_000);
      await q.cmd('write -P 0x7f 3M 64k', /wrote 65536\/65536/);
    } finally {
      await q.close();
      t.container.reconciler.stop();
    }
  });
});
