import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { FakeBootSessionStarter } from '../../src/modules/boot/boot-session.fake.js';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { bootClient, bootTestContext, publishedImage, result } from '../helpers/boot.js';

/**
 * Issue 10, point 3: /boot/* is rate-limited per MAC and per client address (a limited iPXE gets a
 * script that waits and asks again; a counter; one log line per key per interval), and a machine
 * never has two session starts in flight: concurrent requests for one MAC make one start.
 */
describeEachDialect('boot endpoint limits', (dialect) => {
  let t: TestContext;
  let starter: FakeBootSessionStarter;
  let logs: Array<Record<string, unknown>>;

  beforeEach(async () => {
    logs = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    ({ t, starter } = await bootTestContext(dialect, { log }));
  });
  afterEach(async () => t.close());

  const settings = (patch: Parameters<TestContext['container']['settings']['update']>[0]) =>
    t.container.settings.update(patch, 'test');
  const limited = async (key: 'mac' | 'address') => {
    const m = await t.container.metrics.registry.getSingleMetric('ggnet_boot_rate_limited_total')!.get();
    return m.values.find((v) => v.labels.key === key)?.value ?? 0;
  };

  it('per MAC: a burst, then a waiting script that asks again; one log line per key; a counter', async () => {
    await settings({ boot: { macBurst: 3, macRequestsPerMin: 6 } });
    const c = bootClient(t);
    const mac = '52:54:00:aa:00:01';
    const results: string[] = [];
    for (let i = 0; i < 8; i++) results.push(result(await c.boot(mac, '10.0.0.5', '&mode=normal')));
    expect(results).toEqual(['pending', 'pending', 'pending', ...Array(5).fill('rate_limited')]);
    const r = await c.boot(mac, '10.0.0.5', '&mode=normal');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toMatch(/^#!ipxe\n/);
    expect(r.body).toContain('too many requests from this PC');
    // one token every 10 s: iPXE sleeps that long and asks again, keeping the mode of the menu
    expect(r.body).toMatch(/^sleep 10$/m);
    expect(r.body).toContain(
      'chain --replace --autofree http://10.0.0.1:8080/boot/ipxe?mac=${netX/mac}&arch=${buildarch}&platform=${platform}&mode=normal || goto retry',
    );
    // another MAC from the same address is not affected
    expect(result(await c.boot('52:54:00:aa:00:02', '10.0.0.5'))).toBe('pending');
    expect(await limited('mac')).toBe(6);
    expect(await limited('address')).toBe(0);
    const lines = logs.filter((l) => l.msg === 'boot requests rate-limited per mac');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ key: 'mac', mac, ip: '10.0.0.5', refusedSinceLastLog: 1 });
    // a limited request does no work: the machine was registered once and nothing was recorded for the refusals
    expect((await t.container.machines.list({ limit: 10, offset: 0 })).total).toBe(2);
  });

  it('per client address: many MACs from one address are limited, other addresses are not', async () => {
    await settings({ boot: { addressBurst: 5, addressRequestsPerMin: 10 } });
    const c = bootClient(t);
    const results: string[] = [];
    for (let i = 0; i < 12; i++)
      results.push(result(await c.boot(`52:54:00:bb:00:${i.toString(16).padStart(2, '0')}`, '10.0.0.66')));
    expect(results.filter((r) => r === 'pending')).toHaveLength(5);
    expect(results.slice(5).every((r) => r === 'rate_limited')).toBe(true);
    expect((await t.container.machines.list({ limit: 50, offset: 0 })).total).toBe(5);
    expect(result(await c.boot('52:54:00:bb:01:00', '10.0.0.67'))).toBe('pending');
    expect(await limited('address')).toBe(7);
    expect(logs.filter((l) => l.msg === 'boot requests rate-limited per address')).toHaveLength(1);
    // POST /boot/ready from a limited address: a 429 problem with Retry-After (its caller is an OS)
    const ready = await t.app.inject({ method: 'POST', url: '/boot/ready', remoteAddress: '10.0.0.66' });
    expect(ready.statusCode).toBe(429);
    expect(ready.headers['retry-after']).toMatch(/^\d+$/);
    expect(ready.json()).toMatchObject({ code: 'rate_limited' });
    // the limit is a setting: 0 switches it off at once
    await settings({ boot: { addressRequestsPerMin: 0 } });
    expect(result(await c.boot('52:54:00:bb:02:00', '10.0.0.66'))).toBe('pending');
  });

  it('validates the limit settings with clear errors', async () => {
    const r = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: await t.auth('admin'),
      payload: { boot: { macBurst: 0, addressRequestsPerMin: -1 } },
    });
    expect(r.statusCode).toBe(400);
    expect(
      r
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['body.boot.addressRequestsPerMin', 'body.boot.macBurst']);
  });

  it('with the default limits a 200-PC storm (menu, choice, "preparing" retries) is never limited', async () => {
    const img = await publishedImage(t);
    await settings({ boot: { menu: true } });
    const c = bootClient(t);
    const macs = Array.from(
      { length: 200 },
      (_, i) =>
        `52:54:00:cc:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
    );
    for (const [i, mac] of macs.entries())
      await t.container.machines.create({ name: `storm-${i}`, mac, bootImageId: img.id });
    t.container.boot.sessionWaitMs = 1;
    starter.delayMs = 50;
    const seen = new Map<string, number>();
    const count = (r: { headers: Record<string, unknown>; body: string }) => {
      const k = result(r);
      seen.set(k, (seen.get(k) ?? 0) + 1);
      return { k, sleep: Number(/^sleep (\d+)$/m.exec(r.body)?.[1] ?? 0) };
    };
    await Promise.all(
      macs.map(async (mac, i) => {
        const ip = `10.1.${i >> 8}.${(i & 255) + 1}`;
        count(await c.identify(ip)); // the bare URL of an external DHCP server
        count(await c.boot(mac, ip)); // the menu
        // the choice, then the "preparing" retries of a slow start (1 ms of patience here), each
        // after the script's sleep, as iPXE does
        for (let k = 0; k < 10; k++) {
          const r = count(await c.boot(mac, ip, '&mode=normal'));
          if (r.k === 'boot') return;
          await sleep(r.sleep * 1000);
        }
      }),
    );
    expect(seen.get('rate_limited') ?? 0).toBe(0);
    expect(seen.get('boot')).toBe(200);
    expect(starter.requests).toHaveLength(200);
  });

  it('N concurrent requests for one MAC make exactly one session start, and all get that session', async () => {
    // the rate limits are another layer (tests above): out of the way here
    await settings({ boot: { macBurst: 1000, addressBurst: 1000 } });
    const img = await publishedImage(t);
    const m = await t.container.machines.create({
      name: 'pc-1',
      mac: '52:54:00:dd:00:01',
      bootImageId: img.id,
    });
    starter.delayMs = 300;
    const c = bootClient(t);
    const rs = await Promise.all(Array.from({ length: 30 }, () => c.boot(m.mac, '10.0.0.9')));
    expect(rs.map((r) => result(r))).toEqual(Array(30).fill('boot'));
    expect(starter.requests).toHaveLength(1);
    expect(starter.maxRunningPerMachine).toBe(1);
    const sessionId = (await t.container.machines.get(m.id)).sessionId!;
    expect(new Set(rs.map((r) => /session (\S+)/.exec(r.body)?.[1]))).toEqual(new Set([sessionId]));
    // the next boot (after the session was handed out) starts a new one
    expect(result(await c.boot(m.mac, '10.0.0.9'))).toBe('boot');
    expect(starter.requests).toHaveLength(2);
  });

  it('a start slower than the wait: concurrent requests get "preparing", never a second start', async () => {
    const img = await publishedImage(t);
    const m = await t.container.machines.create({
      name: 'pc-2',
      mac: '52:54:00:dd:00:02',
      bootImageId: img.id,
    });
    // requests of one MAC run one after the other, each waiting 20 ms: all done long before 2 s
    t.container.boot.sessionWaitMs = 20;
    starter.delayMs = 2000;
    const c = bootClient(t);
    const first = await Promise.all(Array.from({ length: 8 }, () => c.boot(m.mac, '10.0.0.9')));
    expect(first.every((r) => result(r) === 'preparing')).toBe(true);
    // the same MAC from another address while the start runs: refused (the boot guard protects a
    // booting PC, boot-trust.test.ts); nothing is started for it either
    expect(result(await c.boot(m.mac, '10.0.0.10'))).toBe('refused');
    expect(starter.requests).toHaveLength(1);
    await sleep(2100);
    // the PC's next request picks up the session that was prepared meanwhile
    expect(result(await c.boot(m.mac, '10.0.0.9'))).toBe('boot');
    expect(starter.requests).toHaveLength(1);
  });

  it('a start that fails: its concurrent duplicates get the same error screen, not a second attempt', async () => {
    const img = await publishedImage(t);
    const m = await t.container.machines.create({
      name: 'pc-3',
      mac: '52:54:00:dd:00:03',
      bootImageId: img.id,
    });
    starter.delayMs = 200;
    starter.failWith = new Error('tgtd is gone');
    const c = bootClient(t);
    const rs = await Promise.all(Array.from({ length: 8 }, () => c.boot(m.mac, '10.0.0.9')));
    expect(rs.every((r) => result(r) === 'error')).toBe(true);
    expect(starter.requests).toHaveLength(1);
    // the PC's retry 30 s later is a new attempt
    starter.failWith = null;
    expect(result(await c.boot(m.mac, '10.0.0.9'))).toBe('boot');
    expect(starter.requests).toHaveLength(2);
  });
});
