import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

// Uploads, conversion and the job queue (issue 3).
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  // where the stored upload (VHDX, QCOW2...) of an image lives, relative to the data dir, until it is converted
  await db.schema.alterTable('images').addColumn('source_path', 'text').execute();

  // a job with a dedupe key is unique among the active (queued/running) jobs: one conversion per
  // image, one retention run at a time, even with several workers scheduling
  await db.schema.alterTable('jobs').addColumn('dedupe_key', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('heartbeat_at', 'text').execute();
  await db.schema
    .createIndex('jobs_dedupe_active')
    .on('jobs')
    .column('dedupe_key')
    .unique()
    .where(sql.ref('state'), 'in', ['queued', 'running'])
    .execute();
  await db.schema.createIndex('jobs_lease').on('jobs').columns(['state', 'lease_expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('jobs_lease').ifExists().execute();
  await db.schema.dropIndex('jobs_dedupe_active').ifExists().execute();
  await db.schema.alterTable('jobs').dropColumn('heartbeat_at').execute();
  await db.schema.alterTable('jobs').dropColumn('dedupe_key').execute();
  await db.schema.alterTable('images').dropColumn('source_path').execute();
}
