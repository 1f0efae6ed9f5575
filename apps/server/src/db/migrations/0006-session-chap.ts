import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * CHAP secrets live for one session (or one manual target): they are made with the target row and go
 * with it. The per-machine secrets that every boot of a machine used to share are dropped, so no
 * secret that a client has ever seen outlives the session it was handed out for. Targets of sessions
 * that are live at the upgrade keep the secret they were made with until they end.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  // one column per statement: SQLite's ALTER TABLE takes a single action
  await db.schema.alterTable('machines').dropColumn('chap_secret').execute();
  await db.schema.alterTable('machines').dropColumn('chap_mutual_secret').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // the old code wants a secret per machine: every machine gets an empty one (not a usable secret),
  // which it then replaced at its next boot
  await db.schema
    .alterTable('machines')
    .addColumn('chap_secret', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.alterTable('machines').addColumn('chap_mutual_secret', 'text').execute();
}
