import type { LiveEvent } from '@ggnet/contracts';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { FakeBootSessionStarter } from '../../src/modules/boot/boot-session.fake.js';
import { bootClient, bootTestContext, publishedImage, result } from '../helpers/boot.js';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';

const randomMac = (i: number) =>
  `02:${[i >> 16, (i >> 8) & 255, i & 255, 0x5a].map((b) => b.toString(16).padStart(2, '0')).join(':')}:01`;
/** Every MAC of the flood from its own address (a stranger can change both): the rate limits are not what stops it. */
const floodIp = (i: number) => `10.9.${(i >> 8) & 255}.${(i & 255) + 1}`;

/**
 * Issue 10, point 3: registration of unknown MACs is capped. Findings this fixes: 550 random MACs
 * filled the pending list and then every new real PC got `registration_closed`; in `auto`, 40 random
 * MACs made 40 machines (and 40 writebacks) in 0.9 s. A flood stops at the cap, the console hears it
 * once per interval (WebSocket, audit, boot events), and a real PC registers afterwards.
 */
describeEachDialect('registration caps', (dialect) => {
  let t: TestContext;
  let starter: FakeBootSessionStarter;
  let clock: { now: number };
  let events: LiveEvent[];

  beforeEach(async () => {
    ({ t, starter, events, clock } = await bootTestContext(dialect));
  });
  afterEach(async () => t.close());

  const settings = (patch: Parameters<TestContext['container']['settings']['update']>[0]) =>
    t.container.settings.update(patch, 'test');
  const machines = async (pending?: boolean) =>
    (await t.container.machines.list({ limit: 1, offset: 0, ...(pending === undefined ? {} : { pending }) }))
      .total;
  // (filtered here: the audit list's `action` filter escapes `_` in a way SQLite's LIKE does not honour)
  const audit = async (action: string) =>
    (await t.container.repos.audit.list({ limit: 500, offset: 0 })).items.filter((a) => a.action === action);
  /** `n` random MACs, each from its own address, one request each: how many got which answer. */
  const flood = async (c: ReturnType<typeof bootClient>, n: number) => {
    const results: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = result(await c.boot(randomMac(i), floodIp(i)));
      results[r] = (results[r] ?? 0) + 1;
    }
    return results;
  };
  const capEvents = () => events.filter((e) => e.type === 'machine.registration_capped');

  it('pending: a flood fills the list and stops; stale entries make room for a real PC, oldest first', async () => {
    await settings({ machines: { pendingMax: 40, registerPerHour: 1000, pendingExpireSec: 600 } });
    const c = bootClient(t);
    expect(await flood(c, 55)).toEqual({ pending: 40, registration_closed: 15 });
    expect(await machines(true)).toBe(40);
    // one event for the console, not fifteen: WebSocket, audit log and the boot activity feed
    expect(capEvents()).toHaveLength(1);
    expect(capEvents()[0]!.data).toMatchObject({
      reason: 'pending_full',
      policy: 'pending',
      setting: 'machines.pendingMax',
      cap: 40,
      refused: 1,
      mac: randomMac(40),
    });
    expect(capEvents()[0]!.data).not.toHaveProperty('id');
    expect(await audit('machine.registration_capped')).toHaveLength(1);
    const feed = await t.container.boot.events({ limit: 500, offset: 0 });
    const capped = feed.items.filter((e) => e.detail.result === 'registration_capped');
    expect(capped).toHaveLength(1);
    // no boot event per refused MAC of the flood
    expect(feed.items.filter((e) => e.detail.result === 'registration_closed')).toHaveLength(0);

    // a real PC now: still closed while every pending entry is fresh
    const real = '52:54:00:12:34:56';
    expect(result(await c.boot(real, '10.0.0.50'))).toBe('registration_closed');
    // the flood was an hour ago (its entries were last seen then); one real PC that waits kept asking
    const rows = await t.container.machines.list({ limit: 100, offset: 0, pending: true });
    const old = new Date(Date.now() - 3_600_000).toISOString();
    const waiting = rows.items.find((m) => m.mac === randomMac(3))!;
    for (const [i, m] of rows.items.entries())
      if (m.id !== waiting.id)
        await t.container.repos.machines.update(m.id, {
          last_seen_at: new Date(Date.parse(old) + i * 1000).toISOString(),
          created_at: old,
        });
    const r = await c.boot(real, '10.0.0.50');
    expect(result(r)).toBe('pending');
    expect(await machines(true)).toBe(40);
    const gone = events.filter((e) => e.type === 'machine.deleted').map((e) => e.id);
    expect(gone).toHaveLength(1);
    // the oldest stale entry went; the PC that kept asking is still there
    const oldest = rows.items.filter((m) => m.id !== waiting.id)[0]!;
    expect(gone).toEqual([oldest.id]);
    expect((await t.container.machines.findByMac(waiting.mac))?.pending).toBe(true);
    expect((await t.container.machines.findByMac(real))?.pending).toBe(true);
  });

  it('pending with the defaults: 550 random MACs stop at the hourly cap; a real PC registers once the hour passed', async () => {
    const c = bootClient(t);
    // machines.registerPerHour (250) bites before machines.pendingMax (500)
    expect(await flood(c, 550)).toEqual({ pending: 250, registration_capped: 300 });
    expect(await machines(true)).toBe(250);
    expect(capEvents()).toHaveLength(1);
    expect(capEvents()[0]!.data).toMatchObject({ reason: 'per_hour', cap: 250, retryAfterSec: 3600 });
    const real = '52:54:00:12:34:56';
    const refused = await c.boot(real, '10.0.0.50');
    expect(result(refused)).toBe('registration_capped');
    expect(refused.body).toContain('registers no more new PCs right now');
    expect(refused.body.trim().split('\n').at(-1)).toBe('exit 1');
    // 11 minutes later: a second event, counting what was refused meanwhile
    clock.now += 11 * 60_000;
    expect(result(await c.boot(real, '10.0.0.50'))).toBe('registration_capped');
    expect(capEvents()).toHaveLength(2);
    expect(capEvents()[1]!.data).toMatchObject({ reason: 'per_hour', refused: 301 });
    // the hour has passed: the real PC registers
    clock.now += 50 * 60_000;
    expect(result(await c.boot(real, '10.0.0.50'))).toBe('pending');
    expect((await t.container.machines.findByMac(real))?.pending).toBe(true);
  });

  it('auto: 40 random MACs make at most registerPerHour machines and sessions; a total cap; a real PC later', async () => {
    const img = await publishedImage(t);
    await settings({ machines: { autoRegister: 'auto', defaultImageId: img.id, registerPerHour: 10 } });
    const c = bootClient(t);
    expect(await flood(c, 40)).toEqual({ boot: 10, registration_capped: 30 });
    expect(await machines()).toBe(10);
    expect(starter.requests).toHaveLength(10);
    expect(capEvents()).toHaveLength(1);
    expect(await audit('machine.registration_capped')).toHaveLength(1);

    // the total cap: autoRegisterMax machines in all (those an admin added count too)
    await settings({ machines: { registerPerHour: 1000, autoRegisterMax: 12 } });
    await t.container.machines.create({ name: 'by-hand', mac: '52:54:00:00:00:01' });
    const more = [];
    for (let i = 100; i < 105; i++) more.push(result(await c.boot(randomMac(i), floodIp(i))));
    expect(more).toEqual([
      'boot',
      'registration_capped',
      'registration_capped',
      'registration_capped',
      'registration_capped',
    ]);
    expect(await machines()).toBe(12);
    expect(capEvents().map((e) => (e.data as { reason: string }).reason)).toEqual(['per_hour', 'auto_total']);
    // the admin raises the cap (or removes junk): the next real PC registers and boots
    await settings({ machines: { autoRegisterMax: 13 } });
    expect(result(await c.boot('52:54:00:12:34:56', '10.0.0.50'))).toBe('boot');
    expect((await t.container.machines.findByMac('52:54:00:12:34:56'))?.effective.bootImageId).toEqual({
      value: img.id,
      source: 'default',
    });
  });

  it('validates the cap settings with clear errors', async () => {
    const r = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: await t.auth('admin'),
      payload: { machines: { registerPerHour: 0, pendingExpireSec: 5, pendingMax: 1.5 } },
    });
    expect(r.statusCode).toBe(400);
    expect(
      r
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual([
      'body.machines.pendingExpireSec',
      'body.machines.pendingMax',
      'body.machines.registerPerHour',
    ]);
  });
});
