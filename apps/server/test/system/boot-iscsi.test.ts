import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  closeIscsiContext,
  iscsiTestContext,
  canLogin,
  seedImage,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';

const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

interface Parsed {
  initiator: string;
  user: string;
  password: string;
  reverseUser: string | null;
  reversePassword: string | null;
  /** iscsi:<host>::<port>:<lun hex>:<iqn> of sanboot / sanhook lines. */
  uris: Array<{ host: string; port: number; lun: number; iqn: string }>;
}

/** Reads back what an iPXE script tells iPXE to do. */
function parse(script: string): Parsed {
  const get = (k: string) => new RegExp(`^set ${k} (\\S+)$`, 'm').exec(script)?.[1] ?? null;
  const uris = [
    ...script.matchAll(
      /^(?:sanboot|sanhook --drive 0x[0-9a-f]+) iscsi:([^:]+)::(\d+):([0-9a-f]+):(\S+) \|\|/gm,
    ),
  ]
    .map((m) => ({ host: m[1]!, port: Number(m[2]), lun: parseInt(m[3]!, 16), iqn: m[4]! }))
    .filter((u, i, all) => all.findIndex((x) => x.lun === u.lun) === i);
  return {
    initiator: get('initiator-iqn')!,
    user: get('username')!,
    password: get('password')!,
    reverseUser: get('reverse-username'),
    reversePassword: get('reverse-password'),
    uris,
  };
}

/**
 * The boot endpoint wired to the real iSCSI side: GET /boot/ipxe starts a session through the
 * orchestrator (reflink writeback, tgtd target, ACL, CHAP) and the script's initiator name, CHAP
 * credentials and iSCSI URI are exactly what logs in to GGnet's tgtd (libiscsi as the initiator).
 */
describeEachDialect('boot endpoint + iSCSI sessions (real tgtd)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let portalPort: number;
  let controlPort: number;
  let img: SeededImage;
  let extra: SeededImage;

  beforeAll(async () => {
    ({ t, fs, portalPort, controlPort } = await iscsiTestContext(dialect));
    img = await seedImage(t.container, 'boot-image');
    extra = await seedImage(t.container, 'games', { sizeMiB: 32, dataMiB: 1 });
  });

  afterAll(() => closeIscsiContext(t, controlPort, () => fs?.cleanup()));

  const boot = (m: string, ip = '127.0.0.1') =>
    t.app.inject({
      url: `/boot/ipxe?mac=${encodeURIComponent(m)}&arch=x86_64&platform=efi`,
      remoteAddress: ip,
      headers: { host: '127.0.0.1:8080' },
    });

  it('the script logs in to the target GGnet made for this boot, and nothing else does', async () => {
    const m = await t.container.machines.create({
      name: 'boot-real-1',
      mac: mac(),
      bootImageId: img.imageId,
    });
    const r = await boot(m.mac);
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-ggnet-boot-result']).toBe('boot');
    const s = parse(r.body);
    const machine = await t.container.machines.get(m.id);
    expect(s.initiator).toBe(machine.initiatorIqn);
    expect(s.uris).toHaveLength(1);
    const [u] = s.uris;
    expect(u).toMatchObject({ host: '127.0.0.1', port: portalPort, lun: 1 });
    const session = await t.container.sessions.get(machine.sessionId!);
    expect(session).toMatchObject({
      state: 'ready',
      mode: 'normal',
      clientIp: '127.0.0.1',
      imageId: img.imageId,
    });
    const live = (await t.container.iscsi.driver().then((d) => d.list())).map((x) => x.iqn);
    expect(live).toContain(u!.iqn);

    const ok = await canLogin(portalPort, u!.iqn, u!.lun, {
      initiator: s.initiator,
      user: s.user,
      password: s.password,
    });
    expect(ok.exitCode).toBe(0);
    const otherInitiator = await canLogin(portalPort, u!.iqn, u!.lun, {
      initiator: 'iqn.2024-01.lan.ggnet:initiator.someone-else',
      user: s.user,
      password: s.password,
    });
    expect(otherInitiator.exitCode).not.toBe(0);
    const wrongSecret = await canLogin(portalPort, u!.iqn, u!.lun, {
      initiator: s.initiator,
      user: s.user,
      password: 'WRONGwrong234567',
    });
    expect(wrongSecret.exitCode).not.toBe(0);

    // the timeline has the script; OS up from the client's address is accepted
    const up = await t.app.inject({ method: 'POST', url: '/boot/ready', remoteAddress: '127.0.0.1' });
    expect(up.json()).toEqual({ sessionId: session.id, recorded: true });
    const kinds = (await t.container.sessions.timeline(session.id)).map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['script', 'os_up']));

    // the next boot: a new session and target; the old session ended as rebooted
    const again = parse((await boot(m.mac)).body);
    const next = (await t.container.machines.get(m.id)).sessionId!;
    expect(next).not.toBe(session.id);
    expect((await t.container.sessions.get(session.id)).endReason).toBe('rebooted');
    expect(
      (
        await canLogin(portalPort, again.uris[0]!.iqn, 1, {
          initiator: again.initiator,
          user: again.user,
          password: again.password,
        })
      ).exitCode,
    ).toBe(0);
  });

  it('extra disks are hooked as further LUNs of the same target; mutual CHAP gives reverse credentials', async () => {
    await t.container.settings.update({ iscsi: { mutualChap: true } }, 'test');
    try {
      const m = await t.container.machines.create({
        name: 'boot-real-2',
        mac: mac(),
        bootImageId: img.imageId,
        extraImageIds: [extra.imageId],
      });
      const r = await boot(m.mac);
      expect(r.headers['x-ggnet-boot-result']).toBe('boot');
      const s = parse(r.body);
      expect(s.uris.map((u) => u.lun)).toEqual([1, 2]);
      expect(r.body).toContain('sanboot --drive 0x80 || goto fail1');
      expect(s.reverseUser).toBeTruthy();
      expect(s.reversePassword).toMatch(/^[A-Za-z0-9]{12,16}$/);
      const target = await t.container.repos.targets.findByIqn(s.uris[0]!.iqn);
      expect(target).toMatchObject({ mutual_user: s.reverseUser, mutual_secret: s.reversePassword });
    } finally {
      await t.container.settings.update({ iscsi: { mutualChap: false } }, 'test');
    }
  });
});
