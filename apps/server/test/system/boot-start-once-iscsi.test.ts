import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, expect, it, vi } from 'vitest';
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
const setting = (script: string, key: string) => new RegExp(`^set ${key} (\\S+)$`, 'm').exec(script)?.[1];

/**
 * Issue 10, point 3: at most one session start in flight per MAC, with the real orchestrator and
 * GGnet's own tgtd. Before, 30 requests for one MAC in 1.2 s made 30 session restarts (30 writebacks,
 * 30 targets one after the other); now N concurrent requests make one start and one target, and every
 * request gets that session's script.
 */
describeEachDialect('one session start per MAC (real tgtd)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let portalPort: number;
  let controlPort: number;
  let img: SeededImage;

  beforeAll(async () => {
    // the rate limits are another layer (boot-limits.test.ts): out of the way here
    ({ t, fs, portalPort, controlPort } = await iscsiTestContext(dialect, {
      storage: { reserveBytes: 0 },
      boot: { macBurst: 1000, addressBurst: 1000 },
    }));
    img = await seedImage(t.container, 'start-once');
  });

  afterAll(() => closeIscsiContext(t, controlPort, () => fs?.cleanup()));

  it('20 concurrent requests for one MAC: one orchestrator start, one target in tgtd, one session for all', async () => {
    const m = await t.container.machines.create({ name: 'once-1', mac: mac(), bootImageId: img.imageId });
    const driver = await t.container.iscsi.driver();
    const starts = vi.spyOn(t.container.orchestrator, 'startSession');
    const creates = vi.spyOn(driver, 'createTarget');
    try {
      const rs = await Promise.all(
        Array.from({ length: 20 }, () =>
          t.app.inject({
            url: `/boot/ipxe?mac=${encodeURIComponent(m.mac)}&arch=x86_64&platform=efi`,
            remoteAddress: '127.0.0.1',
            headers: { host: '127.0.0.1:8080' },
          }),
        ),
      );
      expect(rs.map((r) => r.headers['x-ggnet-boot-result'])).toEqual(Array(20).fill('boot'));
      expect(starts).toHaveBeenCalledTimes(1);
      expect(creates).toHaveBeenCalledTimes(1);
      // every request got the same session: the same target and credentials
      expect(new Set(rs.map((r) => /^# GGnet: .* session (\S+)$/m.exec(r.body)?.[1])).size).toBe(1);
      expect(new Set(rs.map((r) => setting(r.body, 'password'))).size).toBe(1);
      const sessions = await t.container.sessions.list({ machineId: m.id, limit: 50, offset: 0 });
      expect(sessions.total).toBe(1);
      expect(sessions.items[0]!.state).toBe('ready');
      // tgtd has exactly one target of this machine, and the script's credentials log in to it
      const live = (await driver.list()).map((x) => x.iqn).filter((iqn) => iqn.endsWith(':once-1'));
      expect(live).toHaveLength(1);
      const s = rs[0]!.body;
      const login = await canLogin(portalPort, live[0]!, 1, {
        initiator: setting(s, 'initiator-iqn')!,
        user: setting(s, 'username')!,
        password: setting(s, 'password')!,
      });
      expect(login.exitCode).toBe(0);
    } finally {
      starts.mockRestore();
      creates.mockRestore();
    }
  });
});
