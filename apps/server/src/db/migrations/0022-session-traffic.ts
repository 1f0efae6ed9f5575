import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * A session's iSCSI traffic, kept: JSON of its byte totals and of the TCP counters they were
 * summed from (see PersistedTraffic), written by the session monitor every so often and when the
 * session ends. Ended sessions keep their totals, and a GGnet restarted under live clients goes on
 * counting from there instead of from the connections that happen to be open.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('traffic', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('traffic').execute();
}
