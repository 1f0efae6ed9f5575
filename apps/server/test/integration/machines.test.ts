import { afterEach, beforeEach, expect, it } from 'vitest';
import { nowIso } from '../../src/db/database.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

describeEachDialect('machines', (dialect) => {
  let t: TestContext;
  let h: Record<string, string>;
  beforeEach(async () => {
    t = await createTestContext(dialect);
    h = await t.auth('operator');
  });
  afterEach(async () => t.close());

  const create = (body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/api/v1/machines', headers: h, payload: body });
  const list = async (qs = '') =>
    (await t.app.inject({ method: 'GET', url: `/api/v1/machines${qs}`, headers: h })).json();

  it('creates, reads, updates and deletes, normalising name and MAC', async () => {
    const img = await t.container.images.create({ name: 'Win11' }, 'admin');
    const res = await create({
      name: 'PC-07',
      mac: '52-54-00-AB-CD-07',
      ip: '10.0.0.7',
      description: 'corner',
      tags: ['row-a', 'ROW-A'],
      bootImageId: img.id,
      keepWriteback: true,
    });
    expect(res.statusCode).toBe(201);
    const m = res.json();
    expect(m).toMatchObject({
      name: 'pc-07',
      mac: '52:54:00:ab:cd:07',
      ip: '10.0.0.7',
      enabled: true,
      pending: false,
      // not given: inherited (no group: the global default)
      bootMode: null,
      effective: { bootMode: { value: 'normal', source: 'default' } },
      tags: ['row-a'],
      bootImageId: img.id,
      keepWriteback: true,
      status: 'offline',
      initiatorIqn: 'iqn.2024-01.lan.ggnet:initiator.pc-07',
    });
    expect(JSON.stringify(m)).not.toContain('chap');

    const upd = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/machines/${m.id}`,
      headers: h,
      payload: { name: 'pc-08', bootMode: 'maintenance', ip: null, enabled: false },
    });
    expect(upd.statusCode).toBe(200);
    expect(upd.json()).toMatchObject({
      name: 'pc-08',
      bootMode: 'maintenance',
      ip: null,
      enabled: false,
      status: 'disabled',
      initiatorIqn: 'iqn.2024-01.lan.ggnet:initiator.pc-08',
    });
    expect(
      (await t.app.inject({ method: 'GET', url: `/api/v1/machines/${m.id}`, headers: h })).json().name,
    ).toBe('pc-08');

    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/machines/${m.id}`, headers: h });
    expect(del.statusCode).toBe(204);
    expect(
      (await t.app.inject({ method: 'GET', url: `/api/v1/machines/${m.id}`, headers: h })).statusCode,
    ).toBe(404);
  });

  it('lists with pagination, search, filters and sorting', async () => {
    for (let i = 1; i <= 12; i++) {
      const r = await create({
        name: `pc-${String(i).padStart(2, '0')}`,
        mac: `52:54:00:00:10:${String(i).padStart(2, '0')}`,
        tags: i % 2 ? ['odd'] : ['even'],
        enabled: i !== 3,
        bootMode: i === 5 ? 'local' : 'normal',
      });
      expect(r.statusCode).toBe(201);
    }
    const p1 = await list('?limit=5&offset=0');
    expect(p1.total).toBe(12);
    expect(p1.items.map((m: { name: string }) => m.name)).toEqual([
      'pc-01',
      'pc-02',
      'pc-03',
      'pc-04',
      'pc-05',
    ]);
    const p3 = await list('?limit=5&offset=10');
    expect(p3.items.map((m: { name: string }) => m.name)).toEqual(['pc-11', 'pc-12']);
    expect((await list('?sort=-name&limit=1')).items[0].name).toBe('pc-12');
    expect((await list('?q=PC-1')).total).toBe(3);
    expect((await list('?q=10:0')).total).toBe(9); // MAC search
    expect((await list('?tag=odd')).total).toBe(6);
    expect((await list('?enabled=false')).items.map((m: { name: string }) => m.name)).toEqual(['pc-03']);
    expect((await list('?status=disabled')).total).toBe(1);
    expect((await list('?status=offline')).total).toBe(11);
    expect((await list('?bootMode=local')).items[0].name).toBe('pc-05');
  });

  it('derives status from the live session', async () => {
    const m = (await create({ name: 'pc-s', mac: '52:54:00:00:20:01' })).json();
    const sid = '11111111-1111-4111-8111-111111111111';
    await t.container.database.db
      .insertInto('sessions')
      .values({
        id: sid,
        machine_id: m.id,
        image_id: null,
        version_id: null,
        target_id: null,
        writeback_id: null,
        mode: 'normal',
        state: 'starting',
        end_reason: null,
        error: null,
        client_ip: null,
        started_at: nowIso(),
        ready_at: null,
        active_at: null,
        ended_at: null,
        last_activity_at: null,
      })
      .execute();
    expect((await list('?status=booting')).items[0]).toMatchObject({
      name: 'pc-s',
      status: 'booting',
      sessionId: sid,
    });
    await t.container.database.db
      .updateTable('sessions')
      .set({ state: 'active' })
      .where('id', '=', sid)
      .execute();
    expect((await list()).items[0].status).toBe('online');
    // a machine with a live session cannot be deleted
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/machines/${m.id}`, headers: h });
    expect(del.statusCode).toBe(409);
    expect(del.json().code).toBe('machine_in_session');
    // the database refuses a second live session for the same machine
    await expect(
      t.container.database.db
        .insertInto('sessions')
        .values({
          id: '22222222-2222-4222-8222-222222222222',
          machine_id: m.id,
          image_id: null,
          version_id: null,
          target_id: null,
          writeback_id: null,
          mode: 'normal',
          state: 'starting',
          end_reason: null,
          error: null,
          client_ip: null,
          started_at: nowIso(),
          ready_at: null,
          active_at: null,
          ended_at: null,
          last_activity_at: null,
        })
        .execute(),
    ).rejects.toThrow();
    // stopping ends it; the machine is offline again and deletable
    const stop = await t.app.inject({ method: 'POST', url: `/api/v1/sessions/${sid}/stop`, headers: h });
    expect(stop.statusCode).toBe(200);
    expect(stop.json()).toMatchObject({ state: 'ended', endReason: 'stopped' });
    expect((await list()).items[0].status).toBe('offline');
    expect(
      (await t.app.inject({ method: 'POST', url: `/api/v1/sessions/${sid}/stop`, headers: h })).statusCode,
    ).toBe(409);
  });

  it('runs bulk actions and refuses unknown ids without changing anything', async () => {
    const img = await t.container.images.create({ name: 'Games' }, 'admin');
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++)
      ids.push((await create({ name: `pc-b${i}`, mac: `52:54:00:00:30:0${i}` })).json().id);
    const bulk = (payload: object) =>
      t.app.inject({ method: 'POST', url: '/api/v1/machines/bulk', headers: h, payload });
    expect((await bulk({ ids, action: 'disable' })).json()).toEqual({ affected: 3 });
    expect((await list('?enabled=false')).total).toBe(3);
    expect(
      (await bulk({ ids: ids.slice(0, 2), action: 'assignImage', bootImageId: img.id })).json().affected,
    ).toBe(2);
    expect((await list(`?imageId=${img.id}`)).total).toBe(2);
    expect((await bulk({ ids, action: 'setBootMode', bootMode: 'maintenance' })).statusCode).toBe(200);
    expect((await bulk({ ids, action: 'setBootMode' })).statusCode).toBe(400);
    const bad = await bulk({ ids: [...ids, 'missing'], action: 'enable' });
    expect(bad.statusCode).toBe(404);
    expect((await list('?enabled=true')).total).toBe(0);
    expect((await bulk({ ids, action: 'delete' })).json().affected).toBe(3);
    expect((await list()).total).toBe(0);
  });

  it('imports CSV all or nothing, with a dry run and per-line errors', async () => {
    await t.container.images.create({ name: 'Win11' }, 'admin');
    await create({ name: 'existing', mac: '52:54:00:00:40:99' });
    const good =
      'name,mac,ip,description,bootMode,tags,image\npc-c1,52-54-00-00-40-01,10.0.0.41,"desk, left",normal,row1;row2,Win11\npc-c2,5254.0000.4002,,,local,,\n';
    const dry = await t.app.inject({
      method: 'POST',
      url: '/api/v1/machines/import',
      headers: h,
      payload: { csv: good, dryRun: true },
    });
    expect(dry.json()).toEqual({ created: 2, errors: [], dryRun: true });
    expect((await list()).total).toBe(1);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/machines/import',
      headers: h,
      payload: { csv: good },
    });
    expect(res.json()).toEqual({ created: 2, errors: [], dryRun: false });
    const c1 = (await list('?q=pc-c1')).items[0];
    expect(c1).toMatchObject({ mac: '52:54:00:00:40:01', description: 'desk, left', tags: ['row1', 'row2'] });
    expect(c1.bootImageId).not.toBeNull();

    const bad =
      'name,mac\npc-d1,52:54:00:00:50:01\npc-d1,52:54:00:00:50:02\npc-d3,not-a-mac\nexisting,52:54:00:00:50:04\npc-d5,52:54:00:00:40:99\npc-d6\n';
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/v1/machines/import',
      headers: h,
      payload: { csv: bad },
    });
    expect(r.statusCode).toBe(422);
    const errs = r.json().errors.map((e: { path: string }) => e.path);
    expect(errs).toEqual(['csv.line.3', 'csv.line.4', 'csv.line.5', 'csv.line.6', 'csv.line.7']);
    expect((await list()).total).toBe(3);
    const noHeader = await t.app.inject({
      method: 'POST',
      url: '/api/v1/machines/import',
      headers: h,
      payload: { csv: 'pc-1,52:54:00:00:00:01' },
    });
    expect(noHeader.json().code).toBe('invalid_csv');
  });
});
