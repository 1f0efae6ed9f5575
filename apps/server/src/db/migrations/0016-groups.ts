import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Groups (rooms) and staged releases (issue 14 points 1-2).
 *
 * - `groups`: a machine's settings at group level (null = not set there), plus the auto-registration
 *   rules (MAC prefixes, address ranges) that place new PCs into the group.
 * - `group_releases`: a version of an image released to a group before everyone (a ring).
 * - `machines.group_id`, and the machine's own settings become nullable (null = inherited from the
 *   group, then the global default). A stored value equal to the old default (`normal`, no kept
 *   writeback, no extra disks) becomes null: until now it only meant "nothing chosen".
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  const ts = 'text';
  await db.schema
    .createTable('groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('boot_image_id', 'text', (c) => c.references('images.id').onDelete('set null'))
    .addColumn('extra_image_ids', 'text')
    .addColumn('boot_mode', 'text')
    .addColumn('boot_menu', 'integer')
    .addColumn('keep_writeback', 'integer')
    .addColumn('mac_prefixes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('ip_ranges', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('group_releases')
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('image_id', 'text', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('version_id', 'text', (c) => c.notNull().references('image_versions.id').onDelete('cascade'))
    .addColumn('released_at', ts, (c) => c.notNull())
    .addColumn('released_by', 'text')
    .addPrimaryKeyConstraint('group_releases_pk', ['group_id', 'image_id'])
    .execute();
  await db.schema.createIndex('group_releases_version').on('group_releases').column('version_id').execute();

  await db.schema
    .alterTable('machines')
    .addColumn('group_id', 'text', (c) => c.references('groups.id').onDelete('set null'))
    .execute();
  await db.schema.createIndex('machines_group').on('machines').column('group_id').execute();
  await db.schema.alterTable('machines').addColumn('boot_menu', 'integer').execute();

  // NOT NULL -> nullable the portable way (SQLite has no ALTER COLUMN): new column, copy, swap
  const relax = async (col: string, type: 'text' | 'integer', asNull: unknown) => {
    const tmp = `${col}_v16`;
    await db.schema.alterTable('machines').addColumn(tmp, type).execute();
    await sql`update machines set ${sql.ref(tmp)} = case when ${sql.ref(col)} = ${asNull} then null else ${sql.ref(col)} end`.execute(
      db,
    );
    await db.schema.alterTable('machines').dropColumn(col).execute();
    await db.schema.alterTable('machines').renameColumn(tmp, col).execute();
  };
  await relax('boot_mode', 'text', 'normal');
  await relax('keep_writeback', 'integer', 0);
  await relax('extra_image_ids', 'text', '[]');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  const restore = async (col: string, type: 'text' | 'integer', dflt: string | number) => {
    const tmp = `${col}_v7`;
    await db.schema
      .alterTable('machines')
      .addColumn(tmp, type, (c) => c.notNull().defaultTo(dflt))
      .execute();
    await sql`update machines set ${sql.ref(tmp)} = coalesce(${sql.ref(col)}, ${dflt})`.execute(db);
    await db.schema.alterTable('machines').dropColumn(col).execute();
    await db.schema.alterTable('machines').renameColumn(tmp, col).execute();
  };
  await restore('boot_mode', 'text', 'normal');
  await restore('keep_writeback', 'integer', 0);
  await restore('extra_image_ids', 'text', '[]');
  await db.schema.alterTable('machines').dropColumn('boot_menu').execute();
  await db.schema.dropIndex('machines_group').ifExists().execute();
  await db.schema.alterTable('machines').dropColumn('group_id').execute();
  await db.schema.dropTable('group_releases').execute();
  await db.schema.dropTable('groups').execute();
}
