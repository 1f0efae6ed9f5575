import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Boots prepared before the PC asks (issue 12 point 2): at most one per machine. The row names the
 * session id the boot will have (its target and writebacks are made under that id, the CHAP user
 * carries it), the target, and a fingerprint of what it was made for (disks, versions, ACL, CHAP
 * mode); a boot request claims it by deleting the row (one statement: of two requests only one
 * gets it) and inserting the session. `state` is `preparing` while the target is made, `ready`
 * after. A machine that is deleted takes its row with it (the reconciler removes the target).
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('prepared_boots')
    .addColumn('machine_id', 'text', (c) =>
      c.primaryKey().notNull().references('machines.id').onDelete('cascade'),
    )
    .addColumn('session_id', 'text', (c) => c.notNull().unique())
    .addColumn('target_id', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('ready_at', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('prepared_boots').ifExists().execute();
}
