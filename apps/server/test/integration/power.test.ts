import { afterEach, beforeEach, expect, it } from 'vitest';
import { FakeWakeOnLan } from '../../src/adapters/wol/wol.fake.js';
import { BootEventRecorder } from '../../src/modules/boot-events/boot-event-recorder.js';
import { PowerSchedules } from '../../src/modules/power/schedules.service.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

const magic = (mac: string) => 'ff'.repeat(6) + mac.replace(/:/g, '').repeat(16);

describeEachDialect('power: Wake-on-LAN and schedules', (dialect) => {
  let t: TestContext;
  let h: Record<string, string>;
  let wol: FakeWakeOnLan;
  let clock: number;

  beforeEach(async () => {
    wol = new FakeWakeOnLan();
    wol.interfaces.set('gg0', { address: '10.9.0.1', netmask: '255.255.255.0' });
    // Monday 2026-12-07 07:00 UTC = 08:00 in Berlin
    clock = Date.parse('2026-12-07T07:00:00Z');
    t = await createTestContext(dialect, { container: { wakeOnLan: wol, powerNow: () => clock } });
    h = await t.auth('operator');
    await t.container.settings.update({ dhcp: { iface: 'gg0' }, power: { packetsPerSecond: 1000 } }, null);
  });
  afterEach(async () => {
    t.container.wake.queue.clear();
    await t.container.wake.queue.drain();
    await t.close();
  });

  const machine = async (n: number, extra: Record<string, unknown> = {}) =>
    t.container.machines.create({
      name: `pc-${n}`,
      mac: `52:54:00:00:09:${String(n).padStart(2, '0')}`,
      ...extra,
    });
  const post = (url: string, payload?: Record<string, unknown>, headers = h) =>
    t.app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) });
  const audit = async (action: string) =>
    (
      await t.app.inject({
        method: 'GET',
        url: `/api/v1/audit?action=${action}`,
        headers: await t.auth('admin'),
      })
    ).json().items as Array<{
      action: string;
      targetId: string;
      username: string | null;
      statusCode: number;
    }>;
  const events = async (machineId: string, kind: string) =>
    (
      await t.app.inject({
        method: 'GET',
        url: `/api/v1/boot/events?machineId=${machineId}&kind=${kind}`,
        headers: h,
      })
    ).json().items as Array<{ kind: string; mac: string; detail: Record<string, unknown> }>;

  it('wakes one machine: the magic packet to the boot network broadcast, a wake_sent event, an audit row', async () => {
    const m = await machine(1);
    const res = await post(`/api/v1/machines/${m.id}/wake`);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({
      queued: 1,
      skipped: [],
      broadcast: '10.9.0.255',
      port: 9,
      sourceAddress: '10.9.0.1',
    });
    await t.container.wake.queue.drain();
    expect(wol.sent.map((p) => [p.bytes.toString('hex'), p.dest])).toEqual([
      [magic(m.mac), { broadcast: '10.9.0.255', port: 9, sourceAddress: '10.9.0.1' }],
    ]);
    const ev = await events(m.id, 'wake_sent');
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({
      mac: m.mac,
      detail: { by: 'test-operator', broadcast: '10.9.0.255', port: 9 },
    });
    const rows = await audit('machine.wake');
    expect(rows[0]).toMatchObject({ targetId: m.id, statusCode: 202 });
  });

  it('refuses viewers, unknown and pending machines, and says when the boot network is unknown', async () => {
    const m = await machine(1);
    expect((await post(`/api/v1/machines/${m.id}/wake`, undefined, await t.auth('viewer'))).statusCode).toBe(
      403,
    );
    const unknown = await post('/api/v1/machines/00000000-0000-4000-8000-000000000000/wake');
    expect(unknown.statusCode).toBe(404);
    const p = await machine(2);
    await t.container.repos.machines.update(p.id, { pending: 1 });
    const pending = await post(`/api/v1/machines/${p.id}/wake`);
    expect(pending.statusCode).toBe(409);
    expect(pending.json().code).toBe('machine_pending');

    wol.interfaces.clear();
    const down = await post(`/api/v1/machines/${m.id}/wake`);
    expect(down.statusCode).toBe(409);
    expect(down.json()).toMatchObject({ code: 'boot_interface_down' });
    expect(down.json().hint).toMatch(/gg0/);
    await t.container.settings.update({ dhcp: { iface: null } }, null);
    const none = await post(`/api/v1/machines/${m.id}/wake`);
    expect(none.json()).toMatchObject({ code: 'no_boot_network' });
    // an explicit broadcast and port (settings) are used as given
    await t.container.settings.update({ power: { wolBroadcast: '10.9.255.255', wolPort: 7 } }, null);
    expect((await post(`/api/v1/machines/${m.id}/wake`)).json()).toMatchObject({
      broadcast: '10.9.255.255',
      port: 7,
    });
    await t.container.wake.queue.drain();
    expect(wol.sent.map((p) => p.dest)).toEqual([
      { broadcast: '10.9.255.255', port: 7, sourceAddress: null },
    ]);
  });

  it('wakes a selection and all (enabled, approved), in order, and lists what it skipped', async () => {
    const a = await machine(1);
    const b = await machine(2);
    const off = await machine(3, { enabled: false });
    const pend = await machine(4);
    await t.container.repos.machines.update(pend.id, { pending: 1 });
    const missing = '00000000-0000-4000-8000-000000000009';

    const sel = await post('/api/v1/machines/wake', { machineIds: [b.id, off.id, pend.id, missing, b.id] });
    expect(sel.statusCode).toBe(202);
    expect(sel.json().queued).toBe(2);
    expect(sel.json().skipped).toEqual([
      { machineId: pend.id, reason: 'pending' },
      { machineId: missing, reason: 'not_found' },
    ]);
    await t.container.wake.queue.drain();
    expect(wol.sent.map((p) => p.mac)).toEqual([b.mac, off.mac]);

    wol.sent.length = 0;
    const all = await post('/api/v1/machines/wake', { all: true });
    expect(all.json().queued).toBe(2);
    expect(all.json().skipped).toEqual(
      expect.arrayContaining([
        { machineId: off.id, reason: 'disabled' },
        { machineId: pend.id, reason: 'pending' },
      ]),
    );
    await t.container.wake.queue.drain();
    expect(wol.sent.map((p) => p.bytes.toString('hex'))).toEqual([magic(a.mac), magic(b.mac)]);
    expect((await audit('machine.wake')).map((r) => r.targetId).sort()).toEqual(['5 machines', 'all']);

    const bad = await post('/api/v1/machines/wake', { machineIds: [] });
    expect(bad.statusCode).toBe(400);
  });

  it("wakes a group's enabled, approved members (POST /groups/{id}/wake) and fires a group schedule", async () => {
    const g = await t.container.groups.create({ name: 'vip-room' });
    const other = await t.container.groups.create({ name: 'main-hall' });
    const a = await machine(1, { groupId: g.id });
    const b = await machine(2, { groupId: g.id });
    const off = await machine(3, { groupId: g.id, enabled: false });
    const hall = await machine(4, { groupId: other.id });
    expect((await post(`/api/v1/groups/${g.id}/wake`, undefined, await t.auth('viewer'))).statusCode).toBe(
      403,
    );
    const unknown = await post('/api/v1/groups/00000000-0000-4000-8000-000000000000/wake');
    expect(unknown.statusCode).toBe(404);

    const res = await post(`/api/v1/groups/${g.id}/wake`);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ queued: 2, skipped: [{ machineId: off.id, reason: 'disabled' }] });
    await t.container.wake.queue.drain();
    expect(wol.sent.map((p) => p.bytes.toString('hex'))).toEqual([magic(a.mac), magic(b.mac)]);
    expect(wol.sent.map((p) => p.mac)).not.toContain(hall.mac);
    expect((await audit('group.wake'))[0]).toMatchObject({ targetId: g.id, statusCode: 202 });

    // a schedule can target a group (an unknown one is refused); it wakes the members at fire time
    const bad = await post('/api/v1/power/schedules', {
      name: 'x',
      action: 'wake',
      days: ['mon'],
      times: ['09:00'],
      target: { groupId: '00000000-0000-4000-8000-000000000000' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('group_not_found');
    const ok = await post('/api/v1/power/schedules', {
      name: 'VIP opening',
      action: 'wake',
      days: ['mon'],
      times: ['09:00'],
      target: { groupId: g.id },
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().target).toEqual({ groupId: g.id });
    // a machine moved into the group after the schedule was made is woken too
    const late = await machine(5);
    await t.container.machines.update(late.id, { groupId: g.id });
    wol.sent.length = 0;
    clock = Date.parse('2026-12-07T09:00:10Z'); // 09:00 UTC is 09:00 in the default zone (UTC)
    const runs = await t.container.powerSchedules.tick();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ outcome: 'fired', machines: 3, skipped: 1, error: null });
    await t.container.wake.queue.drain();
    expect(wol.sent.map((p) => p.mac).sort()).toEqual([a.mac, b.mac, late.mac].sort());
  });

  it('validates the site time zone (IANA, through Intl)', async () => {
    const admin = await t.auth('admin');
    const put = (timeZone: string) =>
      t.app.inject({
        method: 'PUT',
        url: '/api/v1/settings',
        headers: admin,
        payload: { power: { timeZone } },
      });
    const bad = await put('Mars/Olympus_Mons');
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json().errors)).toContain('power.timeZone');
    expect((await put('Europe/Berlin')).statusCode).toBe(200);
    expect((await t.container.settings.get()).power.timeZone).toBe('Europe/Berlin');
  });

  it('creates, lists (next slot in the site zone), changes and deletes schedules, audited', async () => {
    await t.container.settings.update({ power: { timeZone: 'Europe/Berlin' } }, null);
    const url = '/api/v1/power/schedules';
    const body = {
      name: 'Opening',
      action: 'wake',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      times: ['09:00'],
      target: { all: true },
    };
    const res = await post(url, body);
    expect(res.statusCode).toBe(201);
    const s = res.json();
    // Monday 08:00 Berlin: the next slot is today 09:00 Berlin = 08:00 UTC
    expect(s).toMatchObject({
      enabled: true,
      timeZone: 'Europe/Berlin',
      nextAt: '2026-12-07T08:00:00.000Z',
      lastRun: null,
    });
    expect((await post(url, body)).json().code).toBe('schedule_name_taken');
    const invalid = await post(url, { ...body, name: 'x', times: ['25:00'], days: [] });
    expect(invalid.statusCode).toBe(400);
    expect(
      invalid
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['body.days', 'body.times.0']);
    expect((await post(url, { ...body, name: 'y', target: { machineIds: [] } })).statusCode).toBe(400);
    expect((await post(url, body, await t.auth('viewer'))).statusCode).toBe(403);

    const patched = await t.app.inject({
      method: 'PATCH',
      url: `${url}/${s.id}`,
      headers: h,
      payload: { times: ['10:30', '09:15'], days: ['sat'] },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ times: ['09:15', '10:30'], nextAt: '2026-12-12T08:15:00.000Z' });
    const list = (await t.app.inject({ method: 'GET', url, headers: await t.auth('viewer') })).json();
    expect(list.timeZone).toBe('Europe/Berlin');
    expect(list.items.map((i: { name: string }) => i.name)).toEqual(['Opening']);
    expect((await t.app.inject({ method: 'DELETE', url: `${url}/${s.id}`, headers: h })).statusCode).toBe(
      204,
    );
    expect((await t.app.inject({ method: 'GET', url: `${url}/${s.id}`, headers: h })).statusCode).toBe(404);
    const actions = [
      ...(await audit('power.schedule.create')),
      ...(await audit('power.schedule.update')),
      ...(await audit('power.schedule.delete')),
    ].filter((r) => r.statusCode < 300);
    expect(actions.map((r) => r.action).sort()).toEqual([
      'power.schedule.create',
      'power.schedule.delete',
      'power.schedule.update',
    ]);
  });

  it('fires each slot once at its time (injected clock), late within the grace, skips older ones; audited', async () => {
    await t.container.settings.update({ power: { timeZone: 'Europe/Berlin', lateGraceMin: 15 } }, null);
    const a = await machine(1);
    const b = await machine(2);
    const sched = t.container.powerSchedules;
    const open = await sched.create(
      {
        name: 'Opening',
        enabled: true,
        action: 'wake',
        days: ['mon', 'tue', 'wed', 'thu', 'fri'],
        times: ['09:00'],
        target: { all: true },
      },
      'test',
    );
    const close = await sched.create(
      {
        name: 'Closing',
        enabled: true,
        action: 'shutdown',
        days: ['mon'],
        times: ['23:00'],
        target: { machineIds: [a.id] },
      },
      'test',
    );
    // Monday 08:59:59 Berlin: nothing yet
    clock = Date.parse('2026-12-07T07:59:59Z');
    expect(await sched.tick()).toEqual([]);
    // 09:00:05 Berlin: fires
    clock = Date.parse('2026-12-07T08:00:05Z');
    const [run] = await sched.tick();
    expect(run).toMatchObject({
      slot: '2026-12-07T08:00:00.000Z',
      outcome: 'fired',
      lateSec: 5,
      machines: 2,
      error: null,
    });
    // once per slot: this tick, and another scheduler on the same database (a restart), do nothing
    expect(await sched.tick()).toEqual([]);
    const again = new PowerSchedules({
      repo: t.container.repos.power,
      wake: t.container.wake,
      settings: t.container.settings,
      audit: t.container.repos.audit,
      recorder: new BootEventRecorder(t.container.repos.bootEvents, t.container.bus),
      bus: t.container.bus,
      log: t.container.log,
      now: () => clock,
    });
    expect(await again.tick()).toEqual([]);
    await t.container.wake.queue.drain();
    expect(wol.sent.map((p) => p.mac).sort()).toEqual([a.mac, b.mac]);
    expect((await events(a.id, 'wake_sent'))[0]!.detail).toMatchObject({
      by: 'schedule:Opening',
      scheduleId: open.id,
    });
    const fired = await audit('power.schedule.wake');
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({ targetId: open.id, username: null, statusCode: 200 });

    // 23:00 Berlin: a machine without an online client agent gets "no agent" recorded
    clock = Date.parse('2026-12-07T22:00:30Z');
    const [shut] = await sched.tick();
    expect(shut).toMatchObject({ outcome: 'fired', machines: 1, noAgent: 1 });
    expect((await events(a.id, 'shutdown_not_sent'))[0]!.detail).toMatchObject({
      reason: 'no_agent',
      scheduleId: close.id,
    });
    expect(await audit('power.schedule.shutdown')).toHaveLength(1);

    // GGnet down over Tuesday's 09:00 until 09:20 (grace 15 min): skipped and logged, nothing sent
    wol.sent.length = 0;
    clock = Date.parse('2026-12-08T08:20:00Z');
    const [missed] = await sched.tick();
    expect(missed).toMatchObject({ outcome: 'missed', lateSec: 1200, machines: 0 });
    expect(await audit('power.schedule.missed')).toHaveLength(1);
    // Wednesday back at 09:10: within the grace, fires late
    clock = Date.parse('2026-12-09T08:10:00Z');
    const [late] = await sched.tick();
    expect(late).toMatchObject({ outcome: 'fired', lateSec: 600, machines: 2 });
    await t.container.wake.queue.drain();
    expect(wol.sent).toHaveLength(2);
    const shown = await t.container.powerSchedules.get(open.id);
    expect(shown.lastRun).toMatchObject({ outcome: 'fired', lateSec: 600 });
    expect(shown.nextAt).toBe('2026-12-10T08:00:00.000Z');
  });

  it('does not fire a slot from before the schedule was created or re-enabled', async () => {
    const sched = t.container.powerSchedules;
    await machine(1);
    // created at 07:00 UTC with a 06:55 slot (zone UTC): never fires that slot
    const s = await sched.create(
      {
        name: 'Early',
        enabled: true,
        action: 'wake',
        days: ['mon'],
        times: ['06:55'],
        target: { all: true },
      },
      'test',
    );
    expect(await sched.tick()).toEqual([]);
    await sched.update(s.id, { enabled: false });
    clock = Date.parse('2026-12-14T06:56:00Z');
    expect(await sched.tick()).toEqual([]);
    await sched.update(s.id, { enabled: true });
    expect(await sched.tick()).toEqual([]);
    clock = Date.parse('2026-12-21T06:55:00Z');
    expect(await sched.tick()).toHaveLength(1);
  });
});
