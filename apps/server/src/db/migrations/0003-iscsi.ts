import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Storage and iSCSI (issue 4): what a writeback is served as, which backend made it, what it became;
 * the live connections a session's target reported at the last check; at most one maintenance
 * session per image, enforced by the database like one live session per machine.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable('writebacks').addColumn('target_id', 'text').execute();
  await db.schema.alterTable('writebacks').addColumn('lun', 'integer').execute();
  await db.schema
    .alterTable('writebacks')
    .addColumn('backend', 'text', (c) => c.notNull().defaultTo('copy'))
    .execute();
  await db.schema.alterTable('writebacks').addColumn('size_bytes', 'bigint').execute();
  await db.schema.alterTable('writebacks').addColumn('applied_version_id', 'text').execute();
  await db.schema.alterTable('writebacks').addColumn('error', 'text').execute();
  await db.schema.createIndex('writebacks_session').on('writebacks').column('session_id').execute();
  await db.schema.createIndex('writebacks_state').on('writebacks').column('state').execute();

  await db.schema
    .alterTable('sessions')
    .addColumn('connections', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  await db.schema
    .createIndex('sessions_one_maintenance_per_image')
    .on('sessions')
    .column('image_id')
    .unique()
    .where(sql.ref('mode'), '=', 'maintenance')
    .where(sql.ref('state'), '<>', 'ended')
    .execute();

  await db.schema.createIndex('targets_session').on('targets').column('session_id').execute();
  await db.schema.createIndex('targets_machine').on('targets').column('machine_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('targets_machine').ifExists().execute();
  await db.schema.dropIndex('targets_session').ifExists().execute();
  await db.schema.dropIndex('sessions_one_maintenance_per_image').ifExists().execute();
  await db.schema.alterTable('sessions').dropColumn('connections').execute();
  await db.schema.dropIndex('writebacks_state').ifExists().execute();
  await db.schema.dropIndex('writebacks_session').ifExists().execute();
  for (const c of ['error', 'applied_version_id', 'size_bytes', 'backend', 'lun', 'target_id']) {
    await db.schema.alterTable('writebacks').dropColumn(c).execute();
  }
}
