import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Power schedules (issue 14 point 3): wake or shut down machines at given times on given days, in
 * the site's time zone. `last_slot_at` is the newest slot handled (fired or missed): a slot is
 * claimed by moving it forward in one conditional UPDATE, so each slot fires once, across restarts.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('power_schedules')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('days', 'text', (c) => c.notNull())
    .addColumn('times', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('last_slot_at', 'text', (c) => c.notNull())
    .addColumn('last_run', 'text')
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('power_schedules').ifExists().execute();
}
