import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tgtShowTargets } from '@ggnet/testkit';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  QemuIoSession,
  canLogin,
  closeIscsiContext,
  fileSha256,
  iscsiConfig,
  makeLoopFs,
  qemuOpts,
  readRange,
  readThroughIscsi,
  seedImage,
  tool,
  writeThroughIscsi,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';

const MiB = 1024 * 1024;

const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

/** What a boot script says: CHAP, initiator and the sanboot URI (with its portal port). */
function parse(script: string) {
  const get = (k: string) => new RegExp(`^set ${k} (\\S+)$`, 'm').exec(script)?.[1] ?? null;
  const u = /^sanboot iscsi:([^:]+)::(\d+):([0-9a-f]+):(\S+) \|\|/m.exec(script);
  if (!u) throw new Error(`no sanboot in the script:\n${script}`);
  return {
    initiator: get('initiator-iqn')!,
    user: get('username')!,
    password: get('password')!,
    port: Number(u[2]),
    lun: parseInt(u[3]!, 16),
    iqn: u[4]!,
  };
}

const targetsOn = async (controlPort: number) =>
  [...(await tgtShowTargets(controlPort)).matchAll(/^Target \d+: (\S+)$/gm)].map((m) => m[1]!);

/** A target's session parameters on one daemon (`--op show --mode target --tid N`: `key=value` lines). */
const targetParams = async (controlPort: number, iqn: string) => {
  const tid = new RegExp(`^Target (\\d+): ${iqn.replace(/[.]/g, '\\.')}$`, 'm').exec(
    await tgtShowTargets(controlPort),
  )?.[1];
  if (!tid) throw new Error(`no target ${iqn} on control port ${controlPort}`);
  const out = await tool('tgtadm', [
    '-C',
    String(controlPort),
    '--lld',
    'iscsi',
    '--op',
    'show',
    '--mode',
    'target',
    '--tid',
    tid,
  ]);
  return Object.fromEntries([...out.stdout.matchAll(/^(\w+)=(\S*)$/gm)].map((m) => [m[1]!, m[2]!]));
};

/** The I_T nexus ids (iSCSI sessions) of a target on one daemon. */
const nexusOf = async (controlPort: number, iqn: string) => {
  const block = (await tgtShowTargets(controlPort))
    .split(/^Target \d+: /m)
    .find((b) => b.startsWith(`${iqn}\n`));
  return [...(block ?? '').matchAll(/I_T nexus: (\d+)/g)].map((m) => m[1]!);
};

/**
 * Two tgtd instances (settings iscsi.daemons = 2): each its own control port and portal port, both
 * supervised; machines are spread across them and each boot script carries its daemon's port; the
 * reconciler works per daemon; a new GGnet adopts both daemons.
 */
describeEachDialect('several tgtd instances (real tgtd x2)', (dialect) => {
  let t: TestContext;
  let t2: TestContext | undefined;
  let fs: LoopFs;
  let portalPort: number;
  let controlPort: number;
  let config: Record<string, unknown>;
  let img: SeededImage;
  let scratch: string;
  const booted: Array<ReturnType<typeof parse> & { machineId: string }> = [];
  const clients: QemuIoSession[] = [];

  beforeAll(async () => {
    fs = await makeLoopFs('xfs');
    const ic = await iscsiConfig({ dataDir: join(fs.dir, 'data') }, 2);
    ({ portalPort, config } = ic);
    controlPort = config.tgtControlPort as number;
    t = await createTestContext(dialect, { config });
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
    await t.container.iscsi.start();
    img = await seedImage(t.container, 'multi-image');
    scratch = join(fs.dir, 'scratch');
    mkdirSync(scratch, { recursive: true });
  });

  afterAll(async () => {
    // the initiators go first (by their PIDs), then the daemons
    for (const c of clients) await c.close().catch(() => undefined);
    // t2 adopted the daemons: it stops them (by their PIDs); t only closes
    if (t2) {
      await closeIscsiContext(t2, controlPort);
      await closeIscsiContext(t, undefined, () => fs?.cleanup());
    } else await closeIscsiContext(t, controlPort, () => fs?.cleanup());
  });

  const boot = (m: string) =>
    t.app.inject({
      url: `/boot/ipxe?mac=${encodeURIComponent(m)}&arch=x86_64&platform=efi`,
      remoteAddress: '127.0.0.1',
      headers: { host: '127.0.0.1:8080' },
    });

  it('runs two supervised daemons, each on its own control port and portal port', async () => {
    const s = await t.container.iscsi.status();
    expect(s.daemons.map((d) => [d.state, d.controlPort, d.portalPort])).toEqual([
      ['running', controlPort, portalPort],
      ['running', controlPort + 1, portalPort + 1],
    ]);
    const pids = t.container.iscsi.daemonPids;
    expect(new Set(pids).size).toBe(2);
    expect(await t.container.iscsi.portalPorts()).toEqual([portalPort, portalPort + 1]);
    // both run with their data buffers in the heap (config tgtdTuning, default on)
    for (const pid of pids) {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(env).toContain('GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432');
    }
  });

  it('spreads machines across both daemons; each script carries its daemon port and logs in there', async () => {
    for (let i = 0; i < 6; i++) {
      const m = await t.container.machines.create({
        name: `multi-${i}`,
        mac: mac(),
        bootImageId: img.imageId,
      });
      const r = await boot(m.mac);
      expect(r.headers['x-ggnet-boot-result']).toBe('boot');
      booted.push({ ...parse(r.body), machineId: m.id });
    }
    const ports = booted.map((b) => b.port);
    expect(new Set(ports)).toEqual(new Set([portalPort, portalPort + 1]));
    const on = [await targetsOn(controlPort), await targetsOn(controlPort + 1)];
    for (const b of booted) {
      const daemon = b.port - portalPort;
      // the target is on its daemon only, and the row records daemon and port
      expect(on[daemon]).toContain(b.iqn);
      expect(on[1 - daemon]).not.toContain(b.iqn);
      const row = await t.container.repos.targets.findByIqn(b.iqn);
      expect(row).toMatchObject({ tgt_daemon: daemon, portal_port: b.port });
      // writes come in 256 KiB PDUs (tgt's own default: 8 KiB); the rest is tgt's default
      const params = await targetParams(controlPort + daemon, b.iqn);
      expect(params).toMatchObject({ MaxRecvDataSegmentLength: '262144', MaxBurstLength: '262144' });
    }
    // balanced: 6 machines, 3 and 3 (the placement allows a difference of 2)
    expect(Math.abs(on[0]!.length - on[1]!.length)).toBeLessThanOrEqual(2);
    // a client of the second daemon logs in on the second portal port, not on the first
    const second = booted.find((b) => b.port === portalPort + 1)!;
    const creds = { initiator: second.initiator, user: second.user, password: second.password };
    expect((await canLogin(second.port, second.iqn, second.lun, creds)).exitCode).toBe(0);
    expect((await canLogin(portalPort, second.iqn, second.lun, creds)).exitCode).not.toBe(0);
  });

  it('a client reads its disk through a target on the second daemon and writes to its own copy (QEMU iscsi driver)', async () => {
    const second = booted.find((b) => b.port === portalPort + 1)!;
    const masterSum = await fileSha256(img.file);
    const opts = qemuOpts(second.port, second.iqn, second.lun, {
      initiator: second.initiator,
      user: second.user,
      password: second.password,
    });
    // the master's data (the first MiB and the last MiB of its data) through the second daemon
    expect((await readThroughIscsi(opts, 0, MiB, scratch)).equals(await readRange(img.file, 0, MiB))).toBe(
      true,
    );
    expect(
      (await readThroughIscsi(opts, 7 * MiB, MiB, scratch)).equals(await readRange(img.file, 7 * MiB, MiB)),
    ).toBe(true);
    const chunk = randomBytes(256 * 1024);
    const w = await writeThroughIscsi(opts, 20 * MiB, chunk, scratch);
    expect(w.exitCode, w.stderr).toBe(0);
    expect((await readThroughIscsi(opts, 20 * MiB, chunk.length, scratch)).equals(chunk)).toBe(true);
    // the write went to the session's writeback, never to the master
    expect(await fileSha256(img.file)).toBe(masterSum);
    const row = (await t.container.repos.targets.findByIqn(second.iqn))!;
    const s = await t.container.sessions.get(row.session_id!);
    const wb = (await t.container.repos.writebacks.findById(s.writebackId!))!;
    expect(
      (await readRange(t.container.imageFiles.inside(wb.path), 20 * MiB, chunk.length)).equals(chunk),
    ).toBe(true);
  });

  it('reconciles per daemon: a target lost on daemon 2 comes back there, a copy on daemon 1 goes', async () => {
    const second = booted.find((b) => b.port === portalPort + 1)!;
    const first = booted.find((b) => b.port === portalPort)!;
    // lose a target on the second daemon (tgtadm by hand)
    const show = await tgtShowTargets(controlPort + 1);
    const tid = new RegExp(`^Target (\\d+): ${second.iqn.replace(/\./g, '\\.')}$`, 'm').exec(show)![1]!;
    const C2 = ['-C', String(controlPort + 1), '--lld', 'iscsi'];
    expect(
      (await tool('tgtadm', [...C2, '--op', 'delete', '--mode', 'target', '--force', '--tid', tid])).exitCode,
    ).toBe(0);
    // and put a stray target with the name of a second-daemon target on the first daemon
    const C1 = ['-C', String(controlPort), '--lld', 'iscsi'];
    expect(
      (await tool('tgtadm', [...C1, '--op', 'new', '--mode', 'target', '--tid', '900', '-T', second.iqn]))
        .exitCode,
    ).toBe(0);
    const r = await t.container.reconciler.run('test');
    expect(r.errors).toEqual([]);
    expect(r.targetsCreated).toBe(1);
    expect(r.orphanTargetsRemoved).toBe(1);
    expect(await targetsOn(controlPort + 1)).toContain(second.iqn);
    expect(await targetsOn(controlPort)).not.toContain(second.iqn);
    expect(await targetsOn(controlPort)).toContain(first.iqn);
    const creds = { initiator: second.initiator, user: second.user, password: second.password };
    expect((await canLogin(second.port, second.iqn, second.lun, creds)).exitCode).toBe(0);
  });

  it('a new GGnet adopts both daemons (same PIDs, same targets) and drops no client of either daemon', async () => {
    // one running client (one iSCSI session each) on a target of each daemon
    const onEach = [portalPort, portalPort + 1].map((p) => booted.find((b) => b.port === p)!);
    for (const [i, b] of onEach.entries()) {
      const q = new QemuIoSession(
        qemuOpts(b.port, b.iqn, b.lun, { initiator: b.initiator, user: b.user, password: b.password }),
      );
      clients.push(q);
      await q.cmd(`write -P ${0x41 + i} 24M 64k`, /wrote 65536\/65536/);
    }
    const nexus = async () =>
      Promise.all(onEach.map((b) => nexusOf(controlPort + (b.port - portalPort), b.iqn)));
    const nexusBefore = await nexus();
    for (const n of nexusBefore) expect(n).toHaveLength(1);
    const sessionIds = await Promise.all(
      onEach.map(async (b) => (await t.container.repos.targets.findByIqn(b.iqn))!.session_id!),
    );

    const pids = t.container.iscsi.daemonPids;
    const before = [await targetsOn(controlPort), await targetsOn(controlPort + 1)];
    t.container.reconciler.stop();
    await t.container.iscsi.stop(false);
    // the same GGnet again: same data dir, same database (on PostgreSQL: the first context's)
    t2 = await createTestContext(dialect, { config: { ...config, databaseUrl: t.config.databaseUrl } });
    await t2.container.iscsi.start();
    expect(t2.container.iscsi.daemonPids).toEqual(pids);
    const s = await t2.container.iscsi.status();
    expect(s.daemons.map((d) => [d.state, d.adopted])).toEqual([
      ['running', true],
      ['running', true],
    ]);
    expect([await targetsOn(controlPort), await targetsOn(controlPort + 1)]).toEqual(before);

    // the new GGnet's reconciler finds both daemons as the database says: nothing to change
    const r = await t2.container.reconciler.run('test');
    expect(r.errors).toEqual([]);
    expect(r).toMatchObject({
      targetsCreated: 0,
      targetsRepaired: 0,
      targetsRemoved: 0,
      orphanTargetsRemoved: 0,
    });
    // the same iSCSI sessions, still reading what they wrote and writing
    expect(await nexus()).toEqual(nexusBefore);
    for (const [i, q] of clients.entries()) {
      await q.cmd(`read -P ${0x41 + i} 24M 64k`, /read 65536\/65536/);
      await q.cmd(`write -P ${0x61 + i} 25M 64k`, /wrote 65536\/65536/);
      await q.cmd(`read -P ${0x61 + i} 25M 64k`, /read 65536\/65536/);
    }
    for (const id of sessionIds) expect((await t2.container.sessions.get(id)).state).not.toBe('ended');
  });
});
