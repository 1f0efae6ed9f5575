import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Install media (ISO files an admin uploads to install an OS onto a blank network disk) and the
 * machine's choice of one: a machine in maintenance mode with an install medium boots the ISO over
 * HTTP with its maintenance writeback hooked as the first hard disk (install mode).
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('media')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('filename', 'text')
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('machines').addColumn('install_media_id', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('machines').dropColumn('install_media_id').execute();
  await db.schema.dropTable('media').execute();
}
