import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Every IQN prefix (`iqn.<date>.<reversed domain>`) GGnet has named a target under. The reconciler
 * removes orphan targets only inside these: when an admin changes the IQN domain or date, targets
 * left under the old name are still GGnet's to clean up, and nobody else's ever are.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('iqn_prefixes')
    .addColumn('prefix', 'text', (c) => c.primaryKey())
    .addColumn('first_used_at', 'text', (c) => c.notNull())
    .execute();
  // the prefixes of the targets that exist now (earlier ones left no trace)
  const k = db as Kysely<{
    targets: { iqn: string; created_at: string };
    iqn_prefixes: { prefix: string; first_used_at: string };
  }>;
  const rows = await k.selectFrom('targets').select(['iqn', 'created_at']).execute();
  const first = new Map<string, string>();
  for (const r of rows) {
    const p = r.iqn.split(':')[0]!;
    if (!first.has(p) || r.created_at < first.get(p)!) first.set(p, r.created_at);
  }
  for (const [prefix, at] of first) {
    await k.insertInto('iqn_prefixes').values({ prefix, first_used_at: at }).execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('iqn_prefixes').ifExists().execute();
}
