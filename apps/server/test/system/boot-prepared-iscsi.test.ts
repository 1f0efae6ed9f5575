import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  canLogin,
  closeIscsiContext,
  iscsiTestContext,
  seedImage,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';

const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

function parse(script: string) {
  const get = (k: string) => new RegExp(`^set ${k} (\\S+)$`, 'm').exec(script)?.[1] ?? '';
  const u = /^sanboot iscsi:([^:]+)::(\d+):([0-9a-f]+):(\S+) \|\|/m.exec(script);
  if (!u) throw new Error(`no sanboot line in:\n${script}`);
  return {
    initiator: get('initiator-iqn'),
    user: get('username'),
    password: get('password'),
    port: Number(u[2]),
    lun: parseInt(u[3]!, 16),
    iqn: u[4]!,
  };
}

/**
 * A boot prepared before the PC asks (issue 12 point 2) against GGnet's real tgtd: the prepared
 * target refuses every login without the secret; GET /boot/ipxe then hands out the script with no
 * request to tgtd at all (every tgtd request of the driver is counted), and the initiator (libiscsi)
 * logs in with exactly the secret of that script. Two requests at the same moment: one claim, one
 * session, both get the same script, and no target is created, changed or deleted.
 */
describeEachDialect('prepared boots (real tgtd)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let portalPort: number;
  let controlPort: number;
  let img: SeededImage;

  beforeAll(async () => {
    ({ t, fs, portalPort, controlPort } = await iscsiTestContext(dialect));
    img = await seedImage(t.container, 'prepared-image', { sizeMiB: 32, dataMiB: 1 });
  });
  afterAll(() => closeIscsiContext(t, controlPort, () => fs?.cleanup()));

  const boot = (m: string) =>
    t.app.inject({
      url: `/boot/ipxe?mac=${encodeURIComponent(m)}&arch=x86_64&platform=efi`,
      remoteAddress: '127.0.0.1',
      headers: { host: '127.0.0.1:8080' },
    });

  /** Records every management request sent to any tgtd (each member of the pool of daemons). */
  async function countTgtRequests() {
    const driver = (await t.container.iscsi.driver()) as unknown as { members?: readonly unknown[] };
    const daemons = (driver.members ?? [driver]) as Array<{ run: (op: unknown) => Promise<string> }>;
    const spies = daemons.map((d) => vi.spyOn(d, 'run'));
    return {
      ops: () => spies.flatMap((s) => s.mock.calls.map(([op]) => (op as { op: string }).op)),
      mockRestore: () => spies.forEach((s) => s.mockRestore()),
    };
  }

  it('the prepared target takes no login without the secret; the script is served with no tgtd request and its secret logs in', async () => {
    const m = await t.container.machines.create({ name: 'prep-1', mac: mac(), bootImageId: img.imageId });
    expect(await t.container.orchestrator.prepare(m.id)).toBe('prepared');
    const p = (await t.container.repos.preparedBoots.findByMachine(m.id))!;
    const row = (await t.container.repos.targets.findById(p.target_id!))!;
    const initiator = (await t.container.machines.get(m.id)).initiatorIqn;

    // unclaimed: the machine's own initiator name without CHAP, or with a guessed secret, gets nothing
    expect((await canLogin(portalPort, row.iqn, 1, { initiator })).exitCode).not.toBe(0);
    expect(
      (
        await canLogin(portalPort, row.iqn, 1, {
          initiator,
          user: row.chap_user!,
          password: 'WRONGwrong234567',
        })
      ).exitCode,
    ).not.toBe(0);

    const spy = await countTgtRequests();
    try {
      const r = await boot(m.mac);
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-ggnet-boot-result']).toBe('boot');
      expect(spy.ops()).toEqual([]);
      const s = parse(r.body);
      expect(s).toMatchObject({ initiator, user: row.chap_user, iqn: row.iqn, port: portalPort, lun: 1 });
      expect(await t.container.repos.sessions.findById(p.session_id)).toMatchObject({ state: 'ready' });
      spy.mockRestore();
      const ok = await canLogin(portalPort, s.iqn, s.lun, s);
      expect(ok.exitCode).toBe(0);
      expect(ok.stdout).toMatch(/DIRECT_ACCESS|Direct-access/i);
    } finally {
      spy.mockRestore();
    }
  });

  it('two requests of one machine at the same moment: one claim, one session, the same script twice', async () => {
    const m = await t.container.machines.create({ name: 'prep-2', mac: mac(), bootImageId: img.imageId });
    expect(await t.container.orchestrator.prepare(m.id)).toBe('prepared');
    const p = (await t.container.repos.preparedBoots.findByMachine(m.id))!;
    const spy = await countTgtRequests();
    try {
      const [a, b] = await Promise.all([boot(m.mac), boot(m.mac)]);
      expect([a.headers['x-ggnet-boot-result'], b.headers['x-ggnet-boot-result']]).toEqual(['boot', 'boot']);
      // the second request finds the machine's live session: the boot guard reads the target's live
      // connections (a cached `show`, issue 10); nothing is created, bound or deleted
      const ops = spy.ops();
      expect(ops.filter((op) => op !== 'show')).toEqual([]);
      expect(parse(a.body)).toEqual(parse(b.body));
      expect(parse(a.body).user).toContain(p.session_id.replace(/-/g, '').slice(0, 8));
      const sessions = await t.container.repos.sessions.list({ limit: 10, offset: 0, machineId: m.id });
      expect(sessions.items.map((s) => s.id)).toEqual([p.session_id]);
      expect(await t.container.repos.preparedBoots.findByMachine(m.id)).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
  });

  it('after the session ends the next boot is prepared with a new secret; the old one no longer logs in', async () => {
    const m = await t.container.machines.create({ name: 'prep-3', mac: mac(), bootImageId: img.imageId });
    await t.container.orchestrator.prepare(m.id);
    const first = parse((await boot(m.mac)).body);
    const session = (await t.container.repos.sessions.liveForMachine(m.id))!;
    await t.container.orchestrator.endSession(session.id, 'stopped');
    expect(await t.container.orchestrator.prepare(m.id)).toBe('prepared');
    const p = (await t.container.repos.preparedBoots.findByMachine(m.id))!;
    const row = (await t.container.repos.targets.findById(p.target_id!))!;
    expect(row.chap_user).not.toBe(first.user);
    expect(row.chap_secret).not.toBe(first.password);
    expect((await canLogin(portalPort, first.iqn, 1, first)).exitCode).not.toBe(0);
  });
});
