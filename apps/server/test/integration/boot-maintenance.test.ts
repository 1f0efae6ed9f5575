import type { LiveEvent } from '@ggnet/contracts';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { FakeBootSessionStarter } from '../../src/modules/boot/boot-session.fake.js';
import { GRANT_TTL_MS } from '../../src/modules/boot/maintenance-gate.js';
import { bootClient, bootTestContext, endLiveSessions, publishedImage, result } from '../helpers/boot.js';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';

const PIN = '482916';

/**
 * Issue 10, point 4: the boot menu cannot be used to escalate. Maintenance chosen in the menu needs
 * the PIN an admin set (stored hashed, never shown; wrong PINs rate-limited and audited) or an
 * operator's approval in the console; with neither, the menu does not offer it at all.
 */
describeEachDialect('maintenance from the boot menu', (dialect) => {
  let t: TestContext;
  let starter: FakeBootSessionStarter;
  let clock: { now: number };
  let events: LiveEvent[];
  let mac: string;
  let machineId: string;

  beforeEach(async () => {
    ({ t, starter, events, clock } = await bootTestContext(dialect));
    const img = await publishedImage(t);
    const m = await t.container.machines.create({
      name: 'pc-07',
      mac: '52:54:00:07:07:07',
      bootImageId: img.id,
    });
    mac = m.mac;
    machineId = m.id;
    await t.container.settings.update({ boot: { menu: true } }, 'test');
  });
  afterEach(async () => t.close());

  const api = async (
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    url: string,
    role: 'admin' | 'operator' | 'viewer',
    payload?: Record<string, unknown>,
  ) => t.app.inject({ method, url, headers: await t.auth(role), payload });
  const pinQuery = (pin: string) => `&mode=maintenance&pin=${encodeURIComponent(pin)}`;
  const audit = async () => (await t.container.repos.audit.list({ limit: 500, offset: 0 })).items;

  it('with neither a PIN nor approval, the menu does not offer maintenance and asking for it boots normally', async () => {
    const c = bootClient(t);
    const menu = await c.boot(mac, '10.0.0.7');
    expect(result(menu)).toBe('menu');
    expect(menu.body).not.toContain('item maintenance');
    expect(result(await c.boot(mac, '10.0.0.7', '&mode=maintenance'))).toBe('boot');
    expect(starter.requests.at(-1)).toMatchObject({ mode: 'normal' });
    expect((await api('GET', '/api/v1/boot/maintenance', 'operator')).json()).toEqual({
      pinSet: false,
      approval: false,
      offered: false,
      requests: [],
    });
  });

  it('PIN: set by an admin (hashed, never shown); the menu asks for it; wrong ones are audited; the right one boots maintenance', async () => {
    expect((await api('PUT', '/api/v1/boot/maintenance/pin', 'operator', { pin: PIN })).statusCode).toBe(403);
    const bad = await api('PUT', '/api/v1/boot/maintenance/pin', 'admin', { pin: '12ab' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0]).toMatchObject({ path: 'body.pin' });
    expect(bad.json().errors[0].message).toMatch(/4 to 12 digits/);
    const set = await api('PUT', '/api/v1/boot/maintenance/pin', 'admin', { pin: PIN });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toEqual({ pinSet: true });
    // neither the PIN nor its hash leaves the server
    for (const url of ['/api/v1/settings', '/api/v1/boot/maintenance']) {
      const body = (await api('GET', url, 'admin')).body;
      expect(body).not.toContain(PIN);
      expect(body).not.toContain('scrypt');
    }
    expect((await api('GET', '/api/v1/boot/maintenance', 'operator')).json()).toMatchObject({
      pinSet: true,
      offered: true,
    });
    expect(events.find((e) => e.type === 'boot.maintenance_pin')?.data).toEqual({ pinSet: true });

    const c = bootClient(t);
    const menu = await c.boot(mac, '10.0.0.7');
    expect(menu.body).toContain('item maintenance Maintenance (needs the PIN or an operator approval)');
    // the menu's choice without a PIN: the prompt (masked login form)
    const prompt = await c.boot(mac, '10.0.0.7', '&mode=maintenance');
    expect(result(prompt)).toBe('maintenance');
    expect(prompt.body).toContain('login || goto menu');
    expect(prompt.body).toContain('&mode=maintenance&pin=${password:uristring}');
    expect(prompt.body).not.toContain('Wrong PIN');
    expect(starter.requests).toHaveLength(0);
    // wrong: the prompt again, an audit entry and a WebSocket event, no session
    const wrong = await c.boot(mac, '10.0.0.7', pinQuery('000000'));
    expect(result(wrong)).toBe('maintenance');
    expect(wrong.body).toContain('Wrong PIN');
    expect(starter.requests).toHaveLength(0);
    const wrongAudit = (await audit()).filter((a) => a.action === 'boot.maintenance_pin_wrong');
    expect(wrongAudit).toHaveLength(1);
    expect(wrongAudit[0]).toMatchObject({
      ip: '10.0.0.7',
      target_type: 'machine',
      target_id: machineId,
      status_code: 403,
      username: null,
    });
    expect(events.filter((e) => e.type === 'boot.maintenance_pin_wrong')).toHaveLength(1);
    // anything but digits is wrong too (and costs an attempt)
    expect((await c.boot(mac, '10.0.0.7', pinQuery('${x} || shell'))).body).toContain('Wrong PIN');
    // right: the maintenance boot, audited
    const ok = await c.boot(mac, '10.0.0.7', pinQuery(PIN));
    expect(result(ok)).toBe('boot');
    expect(ok.body).toContain('MAINTENANCE');
    expect(starter.requests).toEqual([{ machineId, mode: 'maintenance', clientIp: '10.0.0.7' }]);
    expect((await audit()).filter((a) => a.action === 'boot.maintenance_unlocked')).toHaveLength(1);
    // the unlock lasts a while for this PC (retries, a quick reboot); not for another address
    expect(result(await c.boot(mac, '10.0.0.7', '&mode=maintenance'))).toBe('boot');
    // (while that session lives, another address is refused outright: boot-trust.test.ts)
    expect(result(await c.boot(mac, '10.0.0.8', '&mode=maintenance'))).toBe('refused');
    await endLiveSessions(t, machineId);
    expect(result(await c.boot(mac, '10.0.0.8', '&mode=maintenance'))).toBe('maintenance');
    clock.now += GRANT_TTL_MS + 1000;
    expect(result(await c.boot(mac, '10.0.0.7', '&mode=maintenance'))).toBe('maintenance');
    // the admin removes the PIN: maintenance is no longer offered
    expect((await api('DELETE', '/api/v1/boot/maintenance/pin', 'admin')).json()).toEqual({ pinSet: false });
    expect((await c.boot(mac, '10.0.0.7')).body).not.toContain('item maintenance');
    const actions = (await audit()).map((a) => a.action);
    expect(actions).toContain('boot.maintenance_pin_set');
    expect(actions).toContain('boot.maintenance_pin_clear');
  });

  it('wrong PINs are rate-limited per address and overall; a lock-out is reported once', async () => {
    await api('PUT', '/api/v1/boot/maintenance/pin', 'admin', { pin: PIN });
    // all for one MAC: its request rate limit is another layer (boot-limits.test.ts)
    await t.container.settings.update({ boot: { macBurst: 1000 } }, 'test');
    const c = bootClient(t);
    // 5 wrong PINs from one address, then that address is locked out: even the right PIN is not checked
    for (let i = 0; i < 5; i++)
      expect((await c.boot(mac, '10.0.0.7', pinQuery(`11111${i}`))).body).toContain('Wrong PIN');
    for (const pin of ['222222', PIN, '333333']) {
      const r = await c.boot(mac, '10.0.0.7', pinQuery(pin));
      expect(result(r)).toBe('maintenance');
      expect(r.body).toContain('too many wrong maintenance PINs');
    }
    expect(starter.requests).toHaveLength(0);
    // audited: 5 wrong PINs, and one lock-out (not one per refused attempt)
    let a = await audit();
    expect(a.filter((x) => x.action === 'boot.maintenance_pin_wrong')).toHaveLength(5);
    expect(a.filter((x) => x.action === 'boot.maintenance_pin_locked')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'boot.maintenance_pin_locked')).toHaveLength(1);
    // another address may still try: overall, 20 wrong PINs per hour from everyone together
    for (let i = 0; i < 15; i++) {
      const ip = `10.0.1.${i + 1}`;
      expect((await c.boot(mac, ip, pinQuery('999999'))).body).toContain('Wrong PIN');
    }
    const locked = await c.boot(mac, '10.0.2.1', pinQuery(PIN));
    expect(locked.body).toContain('too many wrong maintenance PINs');
    a = await audit();
    expect(a.filter((x) => x.action === 'boot.maintenance_pin_wrong')).toHaveLength(20);
    expect(a.filter((x) => x.action === 'boot.maintenance_pin_locked')).toHaveLength(2);
    // an hour later the right PIN works again
    clock.now += 3_600_000;
    expect(result(await c.boot(mac, '10.0.2.1', pinQuery(PIN)))).toBe('boot');
  });

  it('approval: the PC waits, the operator approves in the console, the PC boots maintenance; deny boots it normally', async () => {
    await t.container.settings.update({ boot: { maintenanceApproval: true } }, 'test');
    const c = bootClient(t);
    expect((await c.boot(mac, '10.0.0.7')).body).toContain('item maintenance');
    const wait = await c.boot(mac, '10.0.0.7', '&mode=maintenance');
    expect(result(wait)).toBe('maintenance');
    expect(wait.body).toContain('waits for an operator');
    expect(wait.body).toContain('&mode=maintenance || goto retry');
    expect(starter.requests).toHaveLength(0);
    const access = (await api('GET', '/api/v1/boot/maintenance', 'operator')).json();
    expect(access).toMatchObject({ pinSet: false, approval: true, offered: true });
    expect(access.requests).toHaveLength(1);
    const req = access.requests[0];
    expect(req).toMatchObject({ machineId, machineName: 'pc-07', mac, ip: '10.0.0.7', state: 'pending' });
    expect(events.filter((e) => e.type === 'boot.maintenance_requested')).toHaveLength(1);
    // asking again keeps one request
    await c.boot(mac, '10.0.0.7', '&mode=maintenance');
    expect((await api('GET', '/api/v1/boot/maintenance', 'operator')).json().requests).toHaveLength(1);
    // a viewer cannot decide; an operator can (audited with the machine as target)
    expect(
      (await api('POST', `/api/v1/boot/maintenance/requests/${req.id}/approve`, 'viewer')).statusCode,
    ).toBe(403);
    const ok = await api('POST', `/api/v1/boot/maintenance/requests/${req.id}/approve`, 'operator');
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ state: 'approved', decidedBy: 'test-operator' });
    expect(
      (await api('POST', `/api/v1/boot/maintenance/requests/${req.id}/deny`, 'operator')).statusCode,
    ).toBe(409);
    // the request's audit row is written once its response has gone out
    const approved = await vi.waitFor(async () => {
      const row = (await audit()).find(
        (a) => a.action === 'boot.maintenance_approve' && a.status_code === 200,
      );
      if (!row) throw new Error('no audit row for the approval yet');
      return row;
    });
    expect(approved).toMatchObject({
      target_type: 'machine',
      target_id: machineId,
      username: 'test-operator',
    });
    // the same MAC from another address does not get the approval
    expect(result(await c.boot(mac, '10.0.0.99', '&mode=maintenance'))).toBe('maintenance');
    const booted = await c.boot(mac, '10.0.0.7', '&mode=maintenance');
    expect(result(booted)).toBe('boot');
    expect(booted.body).toContain('MAINTENANCE');
    expect(starter.requests.at(-1)).toMatchObject({ mode: 'maintenance', clientIp: '10.0.0.7' });

    // deny: another PC asks, is denied, and is sent to a normal boot
    const other = await t.container.machines.create({
      name: 'pc-08',
      mac: '52:54:00:08:08:08',
      bootImageId: (await publishedImage(t, 'Other')).id,
    });
    await c.boot(other.mac, '10.0.0.8', '&mode=maintenance');
    const r2 = (await api('GET', '/api/v1/boot/maintenance', 'operator'))
      .json()
      .requests.find((r: { mac: string }) => r.mac === other.mac);
    expect(
      (await api('POST', `/api/v1/boot/maintenance/requests/${r2.id}/deny`, 'operator')).json(),
    ).toMatchObject({ state: 'denied' });
    const denied = await c.boot(other.mac, '10.0.0.8', '&mode=maintenance');
    expect(result(denied)).toBe('maintenance');
    expect(denied.body).toContain('was denied');
    expect(denied.body).toContain('&mode=normal || goto retry');
    // choosing maintenance again is a new request, not a standing denial
    expect((await c.boot(other.mac, '10.0.0.8', '&mode=maintenance')).body).toContain(
      'waits for an operator',
    );
    // a request the PC stopped asking for goes away
    clock.now += 3 * 60_000;
    expect((await api('GET', '/api/v1/boot/maintenance', 'operator')).json().requests).toHaveLength(0);
    expect((await api('POST', '/api/v1/boot/maintenance/requests/nope/approve', 'operator')).statusCode).toBe(
      404,
    );
  });

  it('PIN and approval together: an empty PIN asks an operator; a locked-out PC can still ask one', async () => {
    await api('PUT', '/api/v1/boot/maintenance/pin', 'admin', { pin: PIN });
    await t.container.settings.update({ boot: { maintenanceApproval: true } }, 'test');
    const c = bootClient(t);
    const prompt = await c.boot(mac, '10.0.0.7', '&mode=maintenance');
    expect(prompt.body).toContain('Leave the password empty to ask an operator');
    const wait = await c.boot(mac, '10.0.0.7', pinQuery(''));
    expect(wait.body).toContain('waits for an operator');
    // while it waits, its polls (no PIN) keep waiting
    expect((await c.boot(mac, '10.0.0.7', '&mode=maintenance')).body).toContain('waits for an operator');
    // the PIN typed meanwhile (reset, menu, maintenance, PIN) unlocks it and answers the request
    expect(result(await c.boot(mac, '10.0.0.7', pinQuery(PIN)))).toBe('boot');
    expect((await api('GET', '/api/v1/boot/maintenance', 'operator')).json().requests).toHaveLength(0);
    await endLiveSessions(t, machineId);
    for (let i = 0; i < 5; i++) await c.boot('52:54:00:07:07:07', '10.0.0.70', pinQuery('000000'));
    const locked = await c.boot(mac, '10.0.0.70', pinQuery('000000'));
    expect(locked.body).toContain('Too many wrong PINs');
    expect(locked.body).toContain('waits for an operator');
  });

  it('a machine an operator put in maintenance mode boots it from the menu without a PIN', async () => {
    await api('PUT', '/api/v1/boot/maintenance/pin', 'admin', { pin: PIN });
    await t.container.machines.update(machineId, { bootMode: 'maintenance' });
    const c = bootClient(t);
    const menu = await c.boot(mac, '10.0.0.7');
    expect(menu.body).toContain('--default maintenance');
    expect(result(await c.boot(mac, '10.0.0.7', '&mode=maintenance'))).toBe('boot');
    expect(starter.requests.at(-1)).toMatchObject({ mode: 'maintenance' });
  });

  it('the OpenAPI document shows the maintenance routes and the new settings', async () => {
    const doc = (await t.app.inject({ url: '/api/openapi.json' })).json();
    expect(
      Object.keys(doc.paths)
        .filter((p) => p.startsWith('/api/v1/boot/maintenance'))
        .sort(),
    ).toEqual([
      '/api/v1/boot/maintenance',
      '/api/v1/boot/maintenance/pin',
      '/api/v1/boot/maintenance/requests/{id}/approve',
      '/api/v1/boot/maintenance/requests/{id}/deny',
    ]);
    const text = JSON.stringify(doc);
    for (const key of [
      'bootEndpointOnlyOnBootListener',
      'maintenanceApproval',
      'macRequestsPerMin',
      'addressBurst',
      'registerPerHour',
      'pendingMax',
      'pendingExpireSec',
      'autoRegisterMax',
    ])
      expect(text).toContain(`"${key}"`);
  });
});
