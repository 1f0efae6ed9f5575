import { Migrator, type Kysely } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { StaticMigrationProvider } from '../../src/db/migrations/index.js';
import { migrateToLatest } from '../../src/db/database.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

/** A Migrator over the context's database, to go down to a migration and up again. */
const migratorOf = (t: TestContext) =>
  new Migrator({
    db: t.container.database.db,
    provider: new StaticMigrationProvider({ dialect: t.container.database.dialect }),
    migrationTableName: 'ggnet_migrations',
    migrationLockTableName: 'ggnet_migrations_lock',
  });

describeEachDialect('migrations', (dialect) => {
  let t: TestContext;
  afterEach(async () => t.close());

  it('0004 records the IQN prefixes of the targets that exist at the upgrade, and runs down and up again', async () => {
    t = await createTestContext(dialect, { app: false });
    const db = t.container.database.db;
    const target = (id: string, iqn: string, at: string) => ({
      id,
      iqn,
      machine_id: null,
      session_id: null,
      backend: 'tgt',
      luns: '[]',
      initiator_iqn: 'iqn.2024-01.lan.ggnet:initiator.pc',
      chap_user: null,
      chap_secret: null,
      mutual_user: null,
      mutual_secret: null,
      allowed_address: null,
      state: 'active',
      error: null,
      created_at: at,
      updated_at: at,
    });
    const migrator = migratorOf(t);
    // back to before 0004, with targets named under two prefixes
    const down = await migrator.migrateTo('0003-iscsi');
    expect(down.error).toBeUndefined();
    await db
      .insertInto('targets')
      .values(target('t1', 'iqn.2023-05.lan.old:pc-1', '2025-01-02T00:00:00.000Z'))
      .execute();
    await db
      .insertInto('targets')
      .values(target('t2', 'iqn.2023-05.lan.old:pc-2', '2025-01-01T00:00:00.000Z'))
      .execute();
    await db
      .insertInto('targets')
      .values(target('t3', 'iqn.2024-01.lan.ggnet:pc-3', '2025-03-01T00:00:00.000Z'))
      .execute();
    expect((await migrateToLatest(t.container.database)).applied).toContain('0004-iqn-prefixes');
    const rows = await db.selectFrom('iqn_prefixes').selectAll().orderBy('prefix').execute();
    expect(rows).toEqual([
      { prefix: 'iqn.2023-05.lan.old', first_used_at: '2025-01-01T00:00:00.000Z' },
      { prefix: 'iqn.2024-01.lan.ggnet', first_used_at: '2025-03-01T00:00:00.000Z' },
    ]);
    expect(await t.container.repos.targets.prefixes()).toHaveLength(2);
  });

  it('0006 drops the per-machine CHAP secrets (a secret lives for one session), and runs down and up again', async () => {
    t = await createTestContext(dialect, { app: false });
    const db = t.container.database.db as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const migrator = migratorOf(t);
    const columns = async () =>
      (await t.container.database.db.introspection.getTables())
        .find((x) => x.name === 'machines')!
        .columns.map((c) => c.name);
    expect(await columns()).not.toContain('chap_secret');
    expect((await migrator.migrateTo('0004-iqn-prefixes')).error).toBeUndefined();
    expect(await columns()).toEqual(expect.arrayContaining(['chap_secret', 'chap_mutual_secret']));
    const now = '2025-01-01T00:00:00.000Z';
    await db
      .insertInto('machines')
      .values({
        id: 'm1',
        name: 'pc-1',
        mac: '52:54:00:00:00:01',
        initiator_iqn: 'iqn.2024-01.lan.ggnet:initiator.pc-1',
        chap_secret: 'OldMachineSecret',
        chap_mutual_secret: 'OldMutualSecret1',
        created_at: now,
        updated_at: now,
      })
      .execute();
    expect((await migrateToLatest(t.container.database)).applied).toContain('0006-session-chap');
    expect(await columns()).not.toEqual(expect.arrayContaining(['chap_secret']));
    expect(await columns()).not.toEqual(expect.arrayContaining(['chap_mutual_secret']));
    const row = await db.selectFrom('machines').selectAll().where('id', '=', 'm1').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ name: 'pc-1', mac: '52:54:00:00:00:01' });
    expect(JSON.stringify(row)).not.toContain('OldMachineSecret');
  });

  it('0007 gives every existing user token version 0, and runs down and up again', async () => {
    t = await createTestContext(dialect, { app: false });
    const db = t.container.database.db;
    const migrator = migratorOf(t);
    expect((await migrator.migrateTo('0004-iqn-prefixes')).error).toBeUndefined();
    const now = new Date().toISOString();
    await (db as unknown as Kysely<{ users: Record<string, unknown> }>)
      .insertInto('users')
      .values({
        id: 'u-old',
        username: 'from-before',
        password_hash: 'x',
        role: 'viewer',
        disabled: 0,
        created_at: now,
        updated_at: now,
        last_login_at: null,
      })
      .execute();
    expect((await migrateToLatest(t.container.database)).applied).toContain('0007-user-token-version');
    const row = await db
      .selectFrom('users')
      .select(['username', 'token_version'])
      .where('id', '=', 'u-old')
      .executeTakeFirst();
    expect(row).toEqual({ username: 'from-before', token_version: 0 });
    await t.container.repos.users.bumpTokenVersion('u-old', now);
    expect((await t.container.repos.users.findById('u-old'))?.token_version).toBe(1);
  });

  it('0017 gives targets a daemon and portal port: rows from before serve on the first daemon, counted with it; runs down and up again', async () => {
    t = await createTestContext(dialect);
    const db = t.container.database.db as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const migrator = migratorOf(t);
    const columns = async () =>
      (await t.container.database.db.introspection.getTables())
        .find((x) => x.name === 'targets')!
        .columns.map((c) => c.name);
    expect(await columns()).toEqual(expect.arrayContaining(['tgt_daemon', 'portal_port']));
    expect((await migrator.migrateTo('0015-media')).error).toBeUndefined();
    expect(await columns()).not.toContain('tgt_daemon');
    expect(await columns()).not.toContain('portal_port');
    const now = '2026-11-01T00:00:00.000Z';
    const row = (id: string, iqn: string, extra: Record<string, unknown> = {}) => ({
      id,
      iqn,
      machine_id: null,
      session_id: null,
      backend: 'tgt',
      luns: '[]',
      initiator_iqn: `iqn.2024-01.lan.ggnet:initiator.${id}`,
      chap_user: null,
      chap_secret: null,
      mutual_user: null,
      mutual_secret: null,
      allowed_address: null,
      state: 'active',
      error: null,
      created_at: now,
      updated_at: now,
      ...extra,
    });
    // two targets made by a GGnet of one tgtd
    await db.insertInto('targets').values(row('old-1', 'iqn.2024-01.lan.ggnet:old-1')).execute();
    await db.insertInto('targets').values(row('old-2', 'iqn.2024-01.lan.ggnet:old-2')).execute();
    expect((await migrateToLatest(t.container.database)).applied).toContain('0017-target-daemon');
    const targets = t.container.repos.targets;
    expect(await targets.findById('old-1')).toMatchObject({ tgt_daemon: null, portal_port: null });
    // new rows of a GGnet with two daemons
    await db
      .insertInto('targets')
      .values(row('new-0', 'iqn.2024-01.lan.ggnet:new-0', { tgt_daemon: 0, portal_port: 3260 }))
      .execute();
    await db
      .insertInto('targets')
      .values(row('new-1', 'iqn.2024-01.lan.ggnet:new-1', { tgt_daemon: 1, portal_port: 3261 }))
      .execute();
    await db
      .insertInto('targets')
      .values(row('gone-1', 'iqn.2024-01.lan.ggnet:gone-1', { tgt_daemon: 1, state: 'deleting' }))
      .execute();
    // the placement's load: the old rows count on daemon 0 with the new one there; a target being deleted does not count
    expect([...(await targets.loadByDaemon()).entries()].sort()).toEqual([
      [0, 3],
      [1, 1],
    ]);
    // the API's portal: the row's own port, the base port for a row from before
    await t.container.settings.update({ iscsi: { portal: '10.9.8.7:3260' } }, 'test');
    const list = await t.app.inject({ url: '/api/v1/targets?pageSize=100', headers: await t.auth() });
    expect(list.statusCode, list.body).toBe(200);
    const portalOf = new Map(
      (list.json().items as Array<{ iqn: string; portal: string | null }>).map((x) => [x.iqn, x.portal]),
    );
    expect(portalOf.get('iqn.2024-01.lan.ggnet:old-1')).toBe('10.9.8.7:3260');
    expect(portalOf.get('iqn.2024-01.lan.ggnet:new-1')).toBe('10.9.8.7:3261');
    // down drops both columns (the rows stay), up adds them again
    expect((await migrator.migrateTo('0015-media')).error).toBeUndefined();
    expect(await columns()).not.toContain('tgt_daemon');
    expect(await db.selectFrom('targets').select('id').execute()).toHaveLength(5);
    expect((await migrateToLatest(t.container.database)).applied).toContain('0017-target-daemon');
    expect(await columns()).toEqual(expect.arrayContaining(['tgt_daemon', 'portal_port']));
  });
});
