import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator, type Kysely } from 'kysely';
import pino from 'pino';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { migrateToLatest } from '../../src/db/database.js';
import { StaticMigrationProvider } from '../../src/db/migrations/index.js';
import type { JobContext } from '../../src/modules/jobs/job-types.js';
import { ImageRetentionJob } from '../../src/modules/images/image-retention.job.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { FakeIscsiDriver } from '../../src/adapters/iscsi/iscsi-target.fake.js';

describeEachDialect('groups, inheritance and staged releases', (dialect) => {
  let t: TestContext;
  let h: Record<string, string>;
  let dir: string;
  beforeEach(async () => {
    t = await createTestContext(dialect);
    h = await t.auth('operator');
    dir = await mkdtemp(join(tmpdir(), 'ggnet-groups-'));
  });
  afterEach(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const api = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    t.app.inject({
      method,
      url,
      headers: h,
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const ok = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) => {
    const r = await api(method, url, payload);
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.statusCode === 204 ? null : r.json();
  };

  /** An image with `n` ready versions (real files); version 1 published. */
  async function image(name: string, n = 1): Promise<{ id: string; v: string[] }> {
    const img = await t.container.images.create({ name }, 'tester');
    const v: string[] = [];
    for (let i = 1; i <= n; i++) {
      const f = join(dir, `${name}-v${i}.raw`);
      await writeFile(f, randomBytes(4096));
      v.push(
        (
          await t.container.images.addVersionFromFile(img.id, f, {
            comment: `v${i}`,
            author: 'x',
            parentVersionId: null,
          })
        ).id,
      );
    }
    await t.container.images.publishVersion(img.id, v[0]!);
    return { id: img.id, v };
  }

  it('CRUD like the other lists: paging, sort, search, unique names, clear errors', async () => {
    for (const name of ['VIP room', 'Main hall', 'Lab'])
      expect((await api('POST', '/api/v1/groups', { name })).statusCode).toBe(201);
    const dup = await api('POST', '/api/v1/groups', { name: 'Lab' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ code: 'group_name_taken' });
    const bad = await api('POST', '/api/v1/groups', {
      name: 'x',
      bootImageId: 'nope',
      ipRanges: [{ start: '10.0.0.9', end: '10.0.0.1' }],
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('image_not_found');
    const badRange = await api('POST', '/api/v1/groups', {
      name: 'x',
      ipRanges: [{ start: '10.0.0.9', end: '10.0.0.1' }],
    });
    expect(badRange.statusCode).toBe(400);
    expect(badRange.json().errors).toEqual([{ path: 'body.ipRanges.0', message: 'start is after end' }]);
    const badSort = await api('GET', '/api/v1/groups?sort=color');
    expect(badSort.statusCode).toBe(400);

    const page1 = await ok('GET', '/api/v1/groups?limit=2&sort=-name');
    expect(page1.total).toBe(3);
    expect(page1.items.map((g: { name: string }) => g.name)).toEqual(['VIP room', 'Main hall']);
    const page2 = await ok('GET', '/api/v1/groups?limit=2&offset=2&sort=-name');
    expect(page2.items.map((g: { name: string }) => g.name)).toEqual(['Lab']);
    const found = await ok('GET', '/api/v1/groups?q=hall');
    expect(found.items.map((g: { name: string }) => g.name)).toEqual(['Main hall']);

    const id = found.items[0].id as string;
    const upd = await ok('PATCH', `/api/v1/groups/${id}`, {
      description: 'the big room',
      bootMode: 'maintenance',
      macPrefixes: ['52-54-00'],
    });
    expect(upd).toMatchObject({
      description: 'the big room',
      bootMode: 'maintenance',
      macPrefixes: ['52:54:00'],
      machineCount: 0,
    });
    const viewer = await t.auth('viewer');
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/groups',
          headers: viewer,
          payload: { name: 'no' },
        })
      ).statusCode,
    ).toBe(403);
    expect(await ok('DELETE', `/api/v1/groups/${id}`)).toBeNull();
    expect((await api('GET', `/api/v1/groups/${id}`)).statusCode).toBe(404);
    await vi.waitFor(async () => {
      const audit = await t.container.repos.audit.list({ limit: 50, offset: 0 });
      expect(audit.items.map((a) => a.action)).toEqual(
        expect.arrayContaining(['group.create', 'group.update', 'group.delete']),
      );
    });
  });

  it('inheritance: machine -> group -> global default, with the source of every value', async () => {
    const a = await image('win-a');
    const b = await image('win-b');
    const games = await image('games');
    await t.container.settings.update({ machines: { defaultImageId: a.id }, boot: { menu: false } }, null);
    const vip = await ok('POST', '/api/v1/groups', {
      name: 'VIP',
      bootImageId: b.id,
      extraImageIds: [games.id],
      bootMenu: true,
      keepWriteback: true,
    });
    const m1 = await ok('POST', '/api/v1/machines', {
      name: 'pc-1',
      mac: '52:54:00:00:00:01',
      groupId: vip.id,
    });
    expect(m1).toMatchObject({
      groupId: vip.id,
      bootImageId: null,
      bootMode: null,
      keepWriteback: null,
      extraImageIds: null,
    });
    expect(m1.effective).toEqual({
      bootImageId: { value: b.id, source: 'group' },
      extraImageIds: { value: [games.id], source: 'group' },
      bootMode: { value: 'normal', source: 'default' },
      bootMenu: { value: true, source: 'group' },
      keepWriteback: { value: true, source: 'group' },
      bootVersion: { versionId: b.v[0], source: 'published' },
    });
    // the machine's own values win
    const own = await ok('PATCH', `/api/v1/machines/${m1.id}`, {
      bootImageId: a.id,
      keepWriteback: false,
      extraImageIds: [],
    });
    expect(own.effective.bootImageId).toEqual({ value: a.id, source: 'machine' });
    expect(own.effective.keepWriteback).toEqual({ value: false, source: 'machine' });
    expect(own.effective.extraImageIds).toEqual({ value: [], source: 'machine' });
    // null hands the value back to the group
    const back = await ok('PATCH', `/api/v1/machines/${m1.id}`, {
      bootImageId: null,
      keepWriteback: null,
      extraImageIds: null,
    });
    expect(back.effective.bootImageId).toEqual({ value: b.id, source: 'group' });
    expect(back.effective.keepWriteback).toEqual({ value: true, source: 'group' });
    // a machine in no group: the global defaults
    const m2 = await ok('POST', '/api/v1/machines', { name: 'pc-2', mac: '52:54:00:00:00:02' });
    expect(m2.effective.bootImageId).toEqual({ value: a.id, source: 'default' });
    expect(m2.effective.bootMenu).toEqual({ value: false, source: 'default' });
    // a change of the group reaches its machines; the list shows the same
    await ok('PATCH', `/api/v1/groups/${vip.id}`, { bootMode: 'maintenance', bootImageId: null });
    const listed = await ok('GET', `/api/v1/machines?groupId=${vip.id}`);
    expect(listed.total).toBe(1);
    expect(listed.items[0].effective.bootMode).toEqual({ value: 'maintenance', source: 'group' });
    expect(listed.items[0].effective.bootImageId).toEqual({ value: a.id, source: 'default' });
    // filters follow the effective values
    expect(
      (await ok('GET', '/api/v1/machines?bootMode=maintenance')).items.map((m: { name: string }) => m.name),
    ).toEqual(['pc-1']);
    expect(
      (await ok('GET', `/api/v1/machines?imageId=${games.id}`)).items.map((m: { name: string }) => m.name),
    ).toEqual(['pc-1']);
    expect(
      (await ok('GET', '/api/v1/machines?groupId=none')).items.map((m: { name: string }) => m.name),
    ).toEqual(['pc-2']);
    // an unknown group is a clear error
    const bad = await api('PATCH', `/api/v1/machines/${m2.id}`, { groupId: 'no-such-group' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'group_not_found', errors: [{ path: 'body.groupId' }] });
    // deleting the group leaves its machines, in no group
    await ok('DELETE', `/api/v1/groups/${vip.id}`);
    const after = await ok('GET', `/api/v1/machines/${m1.id}`);
    expect(after.groupId).toBeNull();
    expect(after.effective.bootMode).toEqual({ value: 'normal', source: 'default' });
  });

  it('bulk move into a group and out again; CSV import with a group column', async () => {
    const room = await ok('POST', '/api/v1/groups', { name: 'Room 2', bootMode: 'local' });
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++)
      ids.push((await ok('POST', '/api/v1/machines', { name: `pc-${i}`, mac: `52:54:00:00:00:0${i}` })).id);
    expect(
      await ok('POST', '/api/v1/machines/bulk', {
        ids: ids.slice(0, 2),
        action: 'moveToGroup',
        groupId: room.id,
      }),
    ).toEqual({ affected: 2 });
    expect((await ok('GET', `/api/v1/groups/${room.id}`)).machineCount).toBe(2);
    const noGroup = await api('POST', '/api/v1/machines/bulk', { ids, action: 'moveToGroup' });
    expect(noGroup.statusCode).toBe(400);
    const unknown = await api('POST', '/api/v1/machines/bulk', {
      ids,
      action: 'moveToGroup',
      groupId: 'nope',
    });
    expect(unknown.json().code).toBe('group_not_found');
    await ok('POST', '/api/v1/machines/bulk', { ids: [ids[0]], action: 'moveToGroup', groupId: null });
    expect(
      (await ok('GET', `/api/v1/machines?groupId=${room.id}`)).items.map((m: { name: string }) => m.name),
    ).toEqual(['pc-2']);

    const csv = ['name,mac,group', 'pc-10,52:54:00:00:00:10,room 2', 'pc-11,52:54:00:00:00:11,'].join('\n');
    const wrong = await api('POST', '/api/v1/machines/import', {
      csv: `${csv}\npc-12,52:54:00:00:00:12,Attic`,
    });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().errors).toEqual([{ path: 'csv.line.4', message: 'group "Attic" does not exist' }]);
    expect(await ok('POST', '/api/v1/machines/import', { csv })).toMatchObject({ created: 2 });
    const m10 = (await ok('GET', '/api/v1/machines?q=pc-10')).items[0];
    expect(m10).toMatchObject({
      groupId: room.id,
      effective: { bootMode: { value: 'local', source: 'group' } },
    });
    expect((await ok('GET', '/api/v1/machines?q=pc-11')).items[0].groupId).toBeNull();
  });

  it('auto-registration places new PCs by MAC prefix, then address range, then the setting', async () => {
    const a = await image('win');
    const vip = await ok('POST', '/api/v1/groups', {
      name: 'VIP',
      macPrefixes: ['52:54:00:aa'],
      bootImageId: a.id,
    });
    const hall = await ok('POST', '/api/v1/groups', {
      name: 'Hall',
      macPrefixes: ['52:54:00'],
      ipRanges: [{ start: '10.0.5.0', end: '10.0.5.255' }],
    });
    const lab = await ok('POST', '/api/v1/groups', {
      name: 'Lab',
      ipRanges: [{ start: '10.0.7.10', end: '10.0.7.20' }],
    });
    const spare = await ok('POST', '/api/v1/groups', { name: 'Spare' });
    const admin = await t.auth('admin');
    const put = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: admin,
      payload: { machines: { autoRegister: 'auto', autoRegisterGroupId: spare.id } },
    });
    expect(put.statusCode).toBe(200);
    const badSetting = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: admin,
      payload: { machines: { autoRegisterGroupId: 'nope' } },
    });
    expect(badSetting.statusCode).toBe(422);
    expect(badSetting.json().errors).toEqual([
      { path: 'machines.autoRegisterGroupId', message: 'unknown group' },
    ]);

    const boot = (mac: string, ip: string) =>
      t.app.inject({
        method: 'GET',
        url: `/boot/ipxe?mac=${encodeURIComponent(mac)}&arch=x86_64&platform=efi`,
        remoteAddress: ip,
        headers: { host: '10.0.0.1:8080' },
      });
    await boot('52:54:00:aa:00:01', '10.0.7.15'); // longest MAC prefix: VIP
    await boot('52:54:00:bb:00:02', '10.0.7.15'); // MAC prefix before address: Hall
    await boot('aa:bb:cc:00:00:03', '10.0.7.15'); // address range: Lab
    await boot('aa:bb:cc:00:00:04', '10.0.9.1'); // no rule: the setting
    const group = async (mac: string) => (await t.container.machines.findByMac(mac))?.groupId;
    expect(await group('52:54:00:aa:00:01')).toBe(vip.id);
    expect(await group('52:54:00:bb:00:02')).toBe(hall.id);
    expect(await group('aa:bb:cc:00:00:03')).toBe(lab.id);
    expect(await group('aa:bb:cc:00:00:04')).toBe(spare.id);
    // the registered PC boots its group's image
    expect((await t.container.machines.findByMac('52:54:00:aa:00:01'))?.effective.bootImageId).toEqual({
      value: a.id,
      source: 'group',
    });
  });

  it('staged release: a ring boots the new version, the others the published one; promote and roll back, audited', async () => {
    const img = await image('win', 3);
    const ring = await ok('POST', '/api/v1/groups', { name: 'Test ring', bootImageId: img.id });
    const hall = await ok('POST', '/api/v1/groups', { name: 'Hall', bootImageId: img.id });
    const inRing = await ok('POST', '/api/v1/machines', {
      name: 'pc-1',
      mac: '52:54:00:00:00:01',
      groupId: ring.id,
    });
    const inHall = await ok('POST', '/api/v1/machines', {
      name: 'pc-2',
      mac: '52:54:00:00:00:02',
      groupId: hall.id,
    });

    const notReady = await api('POST', `/api/v1/images/${img.id}/release`, {
      versionId: 'nope',
      groupIds: [ring.id],
    });
    expect(notReady.statusCode).toBe(404);
    const published = await api('POST', `/api/v1/images/${img.id}/release`, {
      versionId: img.v[0],
      groupIds: [ring.id],
    });
    expect(published.json().code).toBe('version_published');

    const rel = await ok('POST', `/api/v1/images/${img.id}/release`, {
      versionId: img.v[1],
      groupIds: [ring.id],
    });
    expect(rel.publishedVersionId).toBe(img.v[0]);
    const state = (name: string) => rel.groups.find((g: { name: string }) => g.name === name);
    expect(state('Test ring')).toMatchObject({ versionId: img.v[1], source: 'ring', machines: 1 });
    expect(state('Hall')).toMatchObject({ versionId: img.v[0], source: 'published', machines: 1 });
    expect((await ok('GET', `/api/v1/machines/${inRing.id}`)).effective.bootVersion).toEqual({
      versionId: img.v[1],
      source: 'ring',
    });
    expect((await ok('GET', `/api/v1/machines/${inHall.id}`)).effective.bootVersion).toEqual({
      versionId: img.v[0],
      source: 'published',
    });
    // what the session start uses: the ring machine's boot disk at the ring version
    const eff = await t.container.effective.forMachine(
      (await t.container.repos.machines.findById(inRing.id))!,
    );
    expect(eff.disks).toEqual([{ kind: 'boot', imageId: img.id, versionId: img.v[1], source: 'ring' }]);
    expect((await ok('GET', `/api/v1/groups/${ring.id}`)).releases).toMatchObject([
      { imageId: img.id, versionId: img.v[1] },
    ]);
    expect(
      (await ok('GET', `/api/v1/groups?imageId=${img.id}`)).items.map((g: { name: string }) => g.name),
    ).toEqual(['Test ring']);

    // a pinned version cannot be deleted
    const del = await api('DELETE', `/api/v1/images/${img.id}/versions/${img.v[1]}`);
    expect(del.statusCode).toBe(409);
    expect(del.json().code).toBe('version_released');

    // roll back: the ring boots the published version again
    const rb = await ok('POST', `/api/v1/images/${img.id}/release/rollback`, { versionId: img.v[1] });
    expect(rb.groups.every((g: { source: string }) => g.source === 'published')).toBe(true);
    expect(
      (await api('POST', `/api/v1/images/${img.id}/release/rollback`, { versionId: img.v[1] })).json().code,
    ).toBe('no_ring');

    // release v3, promote: everyone boots it, the ring is over
    await ok('POST', `/api/v1/images/${img.id}/release`, { versionId: img.v[2], groupIds: [ring.id] });
    const pr = await ok('POST', `/api/v1/images/${img.id}/release/promote`, { versionId: img.v[2] });
    expect(pr.publishedVersionId).toBe(img.v[2]);
    expect(pr.groups.map((g: { versionId: string; source: string }) => [g.versionId, g.source])).toEqual([
      [img.v[2], 'published'],
      [img.v[2], 'published'],
    ]);
    expect((await ok('GET', `/api/v1/machines/${inHall.id}`)).effective.bootVersion).toEqual({
      versionId: img.v[2],
      source: 'published',
    });

    // the audit row is written when the response has gone out (onResponse): wait for the last one
    await vi.waitFor(async () => {
      const audit = await t.container.repos.audit.list({ limit: 50, offset: 0 });
      const actions = audit.items
        .filter((a) => a.action.startsWith('release.'))
        .map((a) => [a.action, a.target_id, a.status_code]);
      expect(actions).toEqual(
        expect.arrayContaining([
          ['release.ring', img.v[1], 200],
          ['release.rollback', img.v[1], 200],
          ['release.ring', img.v[2], 200],
          ['release.promote', img.v[2], 200],
        ]),
      );
    });
  });

  it("a group's image is its machines' image everywhere: manual targets, spare clones, and it cannot be deleted from under them", async () => {
    // tgtd's part is not this test's: the fake driver
    await t.close();
    t = await createTestContext(dialect, { container: { iscsiDriver: new FakeIscsiDriver() } });
    h = await t.auth('operator');
    const img = await image('hall-img', 2);
    const other = await image('other-img');
    const hall = await ok('POST', '/api/v1/groups', { name: 'Hall', bootImageId: img.id });
    const pc = await ok('POST', '/api/v1/machines', {
      name: 'pc-h',
      mac: '52:54:00:00:00:11',
      groupId: hall.id,
    });
    await ok('POST', `/api/v1/images/${img.id}/release`, { versionId: img.v[1], groupIds: [hall.id] });

    // a manual target for the machine serves what it boots: the group's image, in the ring's version
    const target = await t.container.targets.create({ machineId: pc.id });
    expect(target.luns[0]).toMatchObject({ imageId: img.id, versionId: img.v[1] });

    // the image list counts the machine that boots it through its group
    expect((await ok('GET', `/api/v1/images/${img.id}`)).machineCount).toBe(1);
    // spare clones are kept for it although no machine names it itself
    const inUse = await t.container.repos.writebacks.publishedVersionsInUse(null);
    expect(inUse.map((v) => v.image_id)).toContain(img.id);
    expect(inUse.map((v) => v.image_id)).not.toContain(other.id);

    // deleting it would move the hall to the default image without a word: refused, naming the group
    await t.container.targets.delete(target.id, false);
    await t.container.storage.idle();
    const del = await api('DELETE', `/api/v1/images/${img.id}`);
    expect(del.statusCode).toBe(409);
    expect(del.json()).toMatchObject({ code: 'image_assigned' });
    expect(del.json().detail).toContain('Hall');
    await ok('PATCH', `/api/v1/groups/${hall.id}`, { bootImageId: other.id });
  });

  it('running versions per group right now', async () => {
    const img = await image('win', 2);
    const ring = await ok('POST', '/api/v1/groups', { name: 'Ring', bootImageId: img.id });
    const m = await ok('POST', '/api/v1/machines', {
      name: 'pc-1',
      mac: '52:54:00:00:00:01',
      groupId: ring.id,
    });
    const loner = await ok('POST', '/api/v1/machines', {
      name: 'pc-2',
      mac: '52:54:00:00:00:02',
      bootImageId: img.id,
    });
    const session = (id: string, machine: string, version: string) =>
      t.container.database.db
        .insertInto('sessions')
        .values({
          id,
          machine_id: machine,
          image_id: img.id,
          version_id: version,
          target_id: null,
          writeback_id: null,
          mode: 'normal',
          state: 'active',
          end_reason: null,
          error: null,
          client_ip: null,
          started_at: new Date().toISOString(),
          ready_at: null,
          active_at: null,
          ended_at: null,
          last_activity_at: null,
        })
        .execute();
    await ok('POST', `/api/v1/images/${img.id}/release`, { versionId: img.v[1], groupIds: [ring.id] });
    await session('s-1', m.id, img.v[1]!);
    await session('s-2', loner.id, img.v[0]!);
    const st = await ok('GET', `/api/v1/images/${img.id}/release`);
    expect(st.groups).toEqual([
      expect.objectContaining({
        name: 'Ring',
        versionId: img.v[1],
        source: 'ring',
        running: [{ versionId: img.v[1], count: 1 }],
      }),
    ]);
    expect(st.others).toEqual([{ versionId: img.v[0], count: 1 }]);
  });

  it('retention never deletes a version a group is pinned to', async () => {
    await t.container.settings.update({ storage: { retainVersions: 1 } }, null);
    const img = await image('win', 5);
    const ring = await ok('POST', '/api/v1/groups', { name: 'Ring' });
    await ok('POST', `/api/v1/images/${img.id}/release`, { versionId: img.v[1], groupIds: [ring.id] });
    await t.container.images.publishVersion(img.id, img.v[4]!);
    const job = new ImageRetentionJob({
      repo: t.container.repos.images,
      images: t.container.images,
      settings: t.container.settings,
    });
    const ctx = {
      signal: new AbortController().signal,
      progress: () => undefined,
      log: pino({ level: 'silent' }),
    } as unknown as JobContext;
    const out = await job.run(ctx);
    // v5 published, v2 pinned, v4 the newest kept; v1 and v3 deleted
    expect(out).toMatchObject({ deleted: 2 });
    const left = (await t.container.images.listVersions(img.id)).map((v) => v.number).sort();
    expect(left).toEqual([2, 4, 5]);
    // once the ring ends, the next run may delete it
    await ok('POST', `/api/v1/images/${img.id}/release/rollback`, { versionId: img.v[1] });
    await job.run(ctx);
    expect((await t.container.images.listVersions(img.id)).map((v) => v.number).sort()).toEqual([4, 5]);
  });

  it('0016 turns the old default values into "inherit", keeps own values, and runs down and up again', async () => {
    const db = t.container.database.db as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const migrator = new Migrator({
      db: t.container.database.db,
      provider: new StaticMigrationProvider({ dialect: t.container.database.dialect }),
      migrationTableName: 'ggnet_migrations',
      migrationLockTableName: 'ggnet_migrations_lock',
    });
    expect((await migrator.migrateTo('0015-media')).error).toBeUndefined();
    const now = '2025-01-01T00:00:00.000Z';
    const row = (id: string, mode: string, keep: number, extra: string) => ({
      id,
      name: id,
      mac: `52:54:00:00:00:0${id.slice(-1)}`,
      ip: null,
      description: '',
      enabled: 1,
      pending: 0,
      boot_image_id: null,
      extra_image_ids: extra,
      keep_writeback: keep,
      boot_mode: mode,
      tags: '[]',
      initiator_iqn: `iqn.2024-01.lan.ggnet:initiator.${id}`,
      last_seen_at: null,
      last_ip: null,
      created_at: now,
      updated_at: now,
    });
    await db
      .insertInto('machines')
      .values(row('pc-1', 'normal', 0, '[]'))
      .execute();
    await db
      .insertInto('machines')
      .values(row('pc-2', 'maintenance', 1, '["img-x"]'))
      .execute();
    expect((await migrateToLatest(t.container.database)).applied).toContain('0016-groups');
    const own = async () =>
      db
        .selectFrom('machines')
        .select(['id', 'boot_mode', 'keep_writeback', 'extra_image_ids', 'group_id', 'boot_menu'])
        .orderBy('id')
        .execute();
    expect(await own()).toEqual([
      {
        id: 'pc-1',
        boot_mode: null,
        keep_writeback: null,
        extra_image_ids: null,
        group_id: null,
        boot_menu: null,
      },
      {
        id: 'pc-2',
        boot_mode: 'maintenance',
        keep_writeback: 1,
        extra_image_ids: '["img-x"]',
        group_id: null,
        boot_menu: null,
      },
    ]);
    // down restores the old NOT NULL columns with the defaults, up again gives the same
    expect((await migrator.migrateTo('0015-media')).error).toBeUndefined();
    const old = await db
      .selectFrom('machines')
      .select(['id', 'boot_mode', 'keep_writeback', 'extra_image_ids'])
      .orderBy('id')
      .execute();
    expect(old).toEqual([
      { id: 'pc-1', boot_mode: 'normal', keep_writeback: 0, extra_image_ids: '[]' },
      { id: 'pc-2', boot_mode: 'maintenance', keep_writeback: 1, extra_image_ids: '["img-x"]' },
    ]);
    expect((await migrateToLatest(t.container.database)).applied).toContain('0016-groups');
    expect((await own())[0]).toMatchObject({ boot_mode: null, keep_writeback: null });
  });

  it("own values equal to a default stay the machine's own", async () => {
    const img = await image('win');
    const m = await ok('POST', '/api/v1/machines', {
      name: 'pc-1',
      mac: '52:54:00:00:00:01',
      bootMode: 'normal',
      keepWriteback: true,
      bootImageId: img.id,
    });
    expect(m).toMatchObject({ bootMode: 'normal', keepWriteback: true, bootImageId: img.id });
    expect(m.effective.bootMode).toEqual({ value: 'normal', source: 'machine' });
  });
});
