import { Migrator, type Kysely } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { StaticMigrationProvider } from '../../src/db/migrations/index.js';
import { migrateToLatest } from '../../src/db/database.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

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
    const migrator = new Migrator({
      db,
      provider: new StaticMigrationProvider({ dialect: t.container.database.dialect }),
      migrationTableName: 'ggnet_migrations',
      migrationLockTableName: 'ggnet_migrations_lock',
    });
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
    const migrator = new Migrator({
      db: t.container.database.db,
      provider: new StaticMigrationProvider({ dialect: t.container.database.dialect }),
      migrationTableName: 'ggnet_migrations',
      migrationLockTableName: 'ggnet_migrations_lock',
    });
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
    const migrator = new Migrator({
      db,
      provider: new StaticMigrationProvider({ dialect: t.container.database.dialect }),
      migrationTableName: 'ggnet_migrations',
      migrationLockTableName: 'ggnet_migrations_lock',
    });
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
});
