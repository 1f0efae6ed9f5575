import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Several tgtd instances serve the targets (settings iscsi.daemons): each target row records which
 * daemon serves it (its index: control port GGNET_TGT_CONTROL_PORT + index) and the portal port the
 * client was told. Rows made before have neither: they are served by the first daemon, as before.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  // one column per statement: SQLite's ALTER TABLE takes a single action
  await db.schema.alterTable('targets').addColumn('tgt_daemon', 'integer').execute();
  await db.schema.alterTable('targets').addColumn('portal_port', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('targets').dropColumn('portal_port').execute();
  await db.schema.alterTable('targets').dropColumn('tgt_daemon').execute();
}
