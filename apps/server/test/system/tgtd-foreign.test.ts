import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ip, killPid, removeNetns, tgtShowTargets, waitFor } from '@ggnet/testkit';
import { runDoctor } from '../../src/cli/doctor.js';
import { tgtLockHolder } from '../../src/adapters/iscsi/tgt-owner.js';
import { describeEachDialect, createTestContext, type TestContext } from '../helpers/test-context.js';
import {
  closeIscsiContext,
  freePort,
  iscsiConfig,
  makeLoopFs,
  runner,
  seedImage,
  tool,
  type LoopFs,
} from '../helpers/iscsi.js';

const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

/**
 * A tgtd that is not GGnet's: started by the test in a network namespace of its own (`ns`, made
 * here) on `controlPort`; returns its PID once it holds the control port's lock.
 */
async function startForeignTgtd(ns: string, controlPort: number): Promise<number> {
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  const foreignPortal = await freePort();
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'tgtd',
      '-f',
      '-C',
      String(controlPort),
      '--iscsi',
      `portal=127.0.0.1:${foreignPortal}`,
    ],
    { stdio: 'ignore', detached: true },
  );
  child.unref();
  const pid = child.pid!;
  // `ip netns exec` execs tgtd: the child's PID is tgtd's, and it holds the control port's lock
  await waitFor('the foreign tgtd', () => tgtLockHolder(controlPort) === pid, 10_000);
  return pid;
}

/**
 * A tgtd that is not GGnet's own holds GGnet's control port: another GGnet's, left running in another
 * network namespace (the control socket and its lock are files, shared by every namespace). GGnet
 * must not start a second tgtd in a loop, must send the foreign one nothing, must say so in /readyz,
 * GET /api/v1/iscsi and `ggnet doctor`, and its boot scripts must say the disk service is
 * unavailable. Once the foreign tgtd is gone, GGnet starts its own by itself.
 */
describeEachDialect('a foreign tgtd on the control port (real tgtd)', (dialect) => {
  let t: TestContext | undefined;
  let fs: LoopFs | undefined;
  let controlPort: number;
  let foreignPid: number | null = null;
  const ns = `ggtf-${process.pid}-${randomBytes(3).toString('hex')}`;

  const stopForeign = async () => {
    if (foreignPid === null) return;
    // ours to stop: the test started it, in its own namespace; by its PID
    await tool('tgtadm', ['-C', String(controlPort), '--op', 'delete', '--mode', 'system']);
    await killPid(foreignPid, 2000);
    foreignPid = null;
  };

  beforeAll(async () => {
    fs = await makeLoopFs('xfs');
    const ic = await iscsiConfig({ dataDir: join(fs.dir, 'data') });
    controlPort = ic.config.tgtControlPort as number;
    foreignPid = await startForeignTgtd(ns, controlPort);
    t = await createTestContext(dialect, { config: ic.config });
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
  });

  afterAll(async () => {
    await stopForeign().catch(() => undefined);
    await closeIscsiContext(t, controlPort, () => fs?.cleanup());
    removeNetns(ns);
  });

  it('is named as a conflict and never used; boots are told the disk service is unavailable', async () => {
    const c = t!.container;
    await expect(c.iscsi.start()).rejects.toThrow(/another tgtd \(pid \d+, in another network namespace\)/);

    const status = (await t!.app.inject({ url: '/api/v1/iscsi', headers: await t!.auth() })).json();
    expect(status.daemons).toHaveLength(1);
    expect(status.daemons[0]).toMatchObject({ state: 'conflict', pid: null, controlPort });
    expect(status.daemons[0].conflict).toContain(`pid ${foreignPid}`);

    const ready = await t!.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'not_ready', reason: 'iscsi_conflict' });
    expect(ready.json().detail).toContain(`another tgtd (pid ${foreignPid}, in another network namespace)`);

    const doctor = await runDoctor(t!.config, runner, 0);
    const row = doctor.find((r) => r.name === `tgtd control port ${controlPort}`);
    expect(row).toMatchObject({ status: 'fail', required: true });
    expect(row!.detail).toContain(`pid ${foreignPid}`);

    // a boot: the screen says the disk service is unavailable; no portal, no sanboot
    const img = await seedImage(c, 'foreign-image');
    const m = await c.machines.create({ name: 'foreign-1', mac: mac(), bootImageId: img.imageId });
    const r = await t!.app.inject({
      url: `/boot/ipxe?mac=${encodeURIComponent(m.mac)}&arch=x86_64&platform=efi`,
      remoteAddress: '127.0.0.1',
      headers: { host: '127.0.0.1:8080' },
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-ggnet-boot-result']).toBe('error');
    expect(r.body).toContain('the disk service is unavailable');
    expect(r.body).not.toMatch(/sanboot|iscsi:/);

    // a reconcile pass and a direct driver call: refused before anything is sent
    await c.reconciler.run('test');
    const driver = await c.iscsi.driver();
    await expect(driver.createTarget('iqn.2024-01.lan.ggnet:foreign-probe')).rejects.toThrow(
      /no request was sent/,
    );
    // the foreign daemon has no target of GGnet's
    expect(await tgtShowTargets(controlPort)).not.toMatch(/^Target \d+:/m);
    expect(tgtLockHolder(controlPort)).toBe(foreignPid);
  });

  it('starts its own tgtd by itself once the foreign one is gone', async () => {
    const c = t!.container;
    await stopForeign();
    await waitFor('our tgtd', async () => (await c.iscsi.status()).daemons[0]?.state === 'running', 20_000);
    const pid = c.iscsi.daemonPid!;
    expect(tgtLockHolder(controlPort)).toBe(pid);
    expect((await t!.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const doctor = await runDoctor(t!.config, runner, 0);
    expect(doctor.find((r) => r.name === `tgtd control port ${controlPort}`)).toMatchObject({
      status: 'ok',
      detail: `GGnet's own tgtd (pid ${pid})`,
    });
  });
});

/**
 * Several daemons, and a foreign tgtd holds the control port of the second one: the first daemon
 * serves, the second is in the conflict state (named in /readyz, GET /api/v1/iscsi and `ggnet
 * doctor`), and every new target goes to the first daemon (its portal port in the boot script) while
 * the foreign tgtd gets nothing. Once it is gone, GGnet starts its second daemon and places on it again.
 */
describeEachDialect('a foreign tgtd on the second daemon control port (real tgtd x2)', (dialect) => {
  let t: TestContext | undefined;
  let fs: LoopFs | undefined;
  let controlPort: number;
  let portalPort: number;
  let foreignPid: number | null = null;
  const ns = `ggtf2-${process.pid}-${randomBytes(3).toString('hex')}`;

  const stopForeign = async () => {
    if (foreignPid === null) return;
    await tool('tgtadm', ['-C', String(controlPort + 1), '--op', 'delete', '--mode', 'system']);
    await killPid(foreignPid, 2000);
    foreignPid = null;
  };

  const boot = async (name: string, imageId: string) => {
    const m = await t!.container.machines.create({ name, mac: mac(), bootImageId: imageId });
    const r = await t!.app.inject({
      url: `/boot/ipxe?mac=${encodeURIComponent(m.mac)}&arch=x86_64&platform=efi`,
      remoteAddress: '127.0.0.1',
      headers: { host: '127.0.0.1:8080' },
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-ggnet-boot-result'], r.body).toBe('boot');
    const u = /^sanboot iscsi:[^:]+::(\d+):[0-9a-f]+:(\S+) \|\|/m.exec(r.body)!;
    return { port: Number(u[1]), iqn: u[2]! };
  };

  beforeAll(async () => {
    fs = await makeLoopFs('xfs');
    const ic = await iscsiConfig({ dataDir: join(fs.dir, 'data') }, 2);
    controlPort = ic.config.tgtControlPort as number;
    portalPort = ic.portalPort;
    foreignPid = await startForeignTgtd(ns, controlPort + 1);
    t = await createTestContext(dialect, { config: ic.config });
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
  });

  afterAll(async () => {
    await stopForeign().catch(() => undefined);
    await closeIscsiContext(t, controlPort, () => fs?.cleanup());
    removeNetns(ns);
  });

  it('serves on the first daemon only; the second is a named conflict and gets nothing', async () => {
    const c = t!.container;
    await expect(c.iscsi.start()).rejects.toThrow(
      new RegExp(
        `another tgtd \\(pid ${foreignPid}, in another network namespace\\) holds control port ${controlPort + 1}`,
      ),
    );
    const status = (await t!.app.inject({ url: '/api/v1/iscsi', headers: await t!.auth() })).json();
    expect(
      status.daemons.map((d: { state: string; controlPort: number; portalPort: number }) => [
        d.state,
        d.controlPort,
        d.portalPort,
      ]),
    ).toEqual([
      ['running', controlPort, portalPort],
      ['conflict', controlPort + 1, portalPort + 1],
    ]);
    expect(status.daemons[1].conflict).toContain(`pid ${foreignPid}`);

    const ready = await t!.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'not_ready', reason: 'iscsi_conflict' });
    expect(ready.json().detail).toContain(`holds control port ${controlPort + 1}`);

    const doctor = await runDoctor(t!.config, runner, 0);
    expect(doctor.find((r) => r.name === `tgtd control port ${controlPort}`)).toMatchObject({
      status: 'ok',
      detail: `GGnet's own tgtd (pid ${c.iscsi.daemonPids[0]})`,
    });
    expect(doctor.find((r) => r.name === `tgtd control port ${controlPort + 1}`)).toMatchObject({
      status: 'fail',
      required: true,
    });

    // boots still work: every target on the first daemon, its portal port in the script
    const img = await seedImage(c, 'foreign2-image');
    for (let i = 0; i < 4; i++) {
      const b = await boot(`foreign2-${i}`, img.imageId);
      expect(b.port).toBe(portalPort);
      expect(await c.repos.targets.findByIqn(b.iqn)).toMatchObject({
        tgt_daemon: 0,
        portal_port: portalPort,
      });
    }
    expect((await tgtShowTargets(controlPort)).match(/^Target \d+:/gm)).toHaveLength(4);
    const r = await c.reconciler.run('test');
    expect(r.errors).toEqual([]);
    // the foreign daemon has none of GGnet's targets, and still holds its port
    expect(await tgtShowTargets(controlPort + 1)).not.toMatch(/^Target \d+:/m);
    expect(tgtLockHolder(controlPort + 1)).toBe(foreignPid);
  });

  it('starts its second daemon once the foreign one is gone and places new machines on it again', async () => {
    const c = t!.container;
    await stopForeign();
    await waitFor(
      'our second tgtd',
      async () => (await c.iscsi.status()).daemons[1]?.state === 'running',
      20_000,
    );
    expect(tgtLockHolder(controlPort + 1)).toBe(c.iscsi.daemonPids[1]);
    expect((await t!.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    // daemon 0 carries 4 targets, daemon 1 none: the next machine goes to the second daemon
    const img = await seedImage(c, 'foreign2-image-b');
    const b = await boot('foreign2-after', img.imageId);
    expect(b.port).toBe(portalPort + 1);
    expect(await tgtShowTargets(controlPort + 1)).toContain(b.iqn);
  });
});
