import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const serial = ctx.dialect === 'postgres' ? 'bigserial' : 'integer';
  const ts = 'text';

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addColumn('last_login_at', ts)
    .execute();

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('family_id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('expires_at', ts, (c) => c.notNull())
    .addColumn('used_at', ts)
    .addColumn('revoked_at', ts)
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .execute();
  await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute();

  await db.schema
    .createTable('images')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('os_type', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('source_format', 'text')
    .addColumn('source_filename', 'text')
    .addColumn('source_size', 'bigint')
    .addColumn('source_sha256', 'text')
    .addColumn('published_version_id', 'text')
    .addColumn('created_by', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('image_versions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('image_id', 'text', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('author', 'text')
    .addColumn('size_bytes', 'bigint')
    .addColumn('sha256', 'text')
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('parent_version_id', 'text')
    .addColumn('path', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('ready_at', ts)
    .addUniqueConstraint('image_versions_image_number', ['image_id', 'number'])
    .execute();

  await db.schema
    .createTable('machines')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('mac', 'text', (c) => c.notNull().unique())
    .addColumn('ip', 'text')
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('pending', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('boot_image_id', 'text', (c) => c.references('images.id').onDelete('set null'))
    .addColumn('extra_image_ids', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('keep_writeback', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('boot_mode', 'text', (c) => c.notNull().defaultTo('normal'))
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('initiator_iqn', 'text', (c) => c.notNull())
    .addColumn('chap_secret', 'text', (c) => c.notNull())
    .addColumn('chap_mutual_secret', 'text')
    .addColumn('last_seen_at', ts)
    .addColumn('last_ip', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('machines_ip').on('machines').column('ip').execute();

  await db.schema
    .createTable('writebacks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('image_id', 'text', (c) => c.notNull())
    .addColumn('version_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text')
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('kept', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('discarded_at', ts)
    .execute();
  await db.schema.createIndex('writebacks_machine').on('writebacks').column('machine_id').execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('image_id', 'text')
    .addColumn('version_id', 'text')
    .addColumn('target_id', 'text')
    .addColumn('writeback_id', 'text')
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('end_reason', 'text')
    .addColumn('error', 'text')
    .addColumn('client_ip', 'text')
    .addColumn('started_at', ts, (c) => c.notNull())
    .addColumn('ready_at', ts)
    .addColumn('active_at', ts)
    .addColumn('ended_at', ts)
    .addColumn('last_activity_at', ts)
    .execute();
  await db.schema
    .createIndex('sessions_machine_state')
    .on('sessions')
    .columns(['machine_id', 'state'])
    .execute();
  await db.schema.createIndex('sessions_state').on('sessions').column('state').execute();
  // at most one live session per machine, enforced by the database (concurrent boots of one MAC race here)
  await db.schema
    .createIndex('sessions_one_live_per_machine')
    .on('sessions')
    .column('machine_id')
    .unique()
    .where(sql.ref('state'), '<>', 'ended')
    .execute();

  await db.schema
    .createTable('targets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('iqn', 'text', (c) => c.notNull().unique())
    .addColumn('machine_id', 'text', (c) => c.references('machines.id').onDelete('set null'))
    .addColumn('session_id', 'text')
    .addColumn('backend', 'text', (c) => c.notNull())
    .addColumn('luns', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('initiator_iqn', 'text', (c) => c.notNull())
    .addColumn('chap_user', 'text')
    .addColumn('chap_secret', 'text')
    .addColumn('mutual_user', 'text')
    .addColumn('mutual_secret', 'text')
    .addColumn('allowed_address', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('result', 'text')
    .addColumn('progress', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull().defaultTo(3))
    .addColumn('error', 'text')
    .addColumn('run_at', ts, (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', ts)
    .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_by', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('started_at', ts)
    .addColumn('finished_at', ts)
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('jobs_claim').on('jobs').columns(['state', 'run_at']).execute();

  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addColumn('updated_by', 'text')
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', serial, (c) =>
      ctx.dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('at', ts, (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('username', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text')
    .addColumn('target_id', 'text')
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('ip', 'text')
    .execute();
  await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();

  await db.schema
    .createTable('boot_events')
    .addColumn('id', serial, (c) =>
      ctx.dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('at', ts, (c) => c.notNull())
    .addColumn('mac', 'text')
    .addColumn('machine_id', 'text')
    .addColumn('session_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema.createIndex('boot_events_session').on('boot_events').column('session_id').execute();
  await db.schema.createIndex('boot_events_mac_at').on('boot_events').columns(['mac', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'boot_events',
    'audit_log',
    'settings',
    'jobs',
    'targets',
    'sessions',
    'writebacks',
    'machines',
    'image_versions',
    'images',
    'refresh_tokens',
    'users',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
