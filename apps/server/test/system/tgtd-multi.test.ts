import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tgtShowTargets } from '@ggnet/testkit';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  canLogin,
  closeIscsiContext,
  iscsiConfig,
  makeLoopFs,
  seedImage,
  tool,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';

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
  const booted: Array<ReturnType<typeof parse> & { machineId: string }> = [];

  beforeAll(async () => {
    fs = await makeLoopFs('xfs');
    const ic = await iscsiConfig({ dataDir: join(fs.dir, 'data') }, 2);
    ({ portalPort, config } = ic);
    controlPort = config.tgtControlPort as number;
    t = await createTestContext(dialect, { config });
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
    await t.container.iscsi.start();
    img = await seedImage(t.container, 'multi-image');
  });

  afterAll(async () => {
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
    }
    // balanced: 6 machines, 3 and 3 (the placement allows a difference of 2)
    expect(Math.abs(on[0]!.length - on[1]!.length)).toBeLessThanOrEqual(2);
    // a client of the second daemon logs in on the second portal port, not on the first
    const second = booted.find((b) => b.port === portalPort + 1)!;
    const creds = { initiator: second.initiator, user: second.user, password: second.password };
    expect((await canLogin(second.port, second.iqn, second.lun, creds)).exitCode).toBe(0);
    expect((await canLogin(portalPort, second.iqn, second.lun, creds)).exitCode).not.toBe(0);
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

  it('a new GGnet adopts both daemons (same PIDs, same targets)', async () => {
    const pids = t.container.iscsi.daemonPids;
    const before = [await targetsOn(controlPort), await targetsOn(controlPort + 1)];
    t.container.reconciler.stop();
    await t.container.iscsi.stop(false);
    t2 = await createTestContext(dialect, { config });
    await t2.container.iscsi.start();
    expect(t2.container.iscsi.daemonPids).toEqual(pids);
    const s = await t2.container.iscsi.status();
    expect(s.daemons.map((d) => [d.state, d.adopted])).toEqual([
      ['running', true],
      ['running', true],
    ]);
    expect([await targetsOn(controlPort), await targetsOn(controlPort + 1)]).toEqual(before);
  });
});
