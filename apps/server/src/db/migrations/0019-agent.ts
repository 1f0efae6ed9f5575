import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * The client agent (issue 14 point 4): one token per boot session (only its sha256 is stored),
 * claimed once from the session's own address, with what the agent reported last; and the
 * commands operators send to a machine's agent (shutdown, reboot, message).
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('agent_sessions')
    .addColumn('session_id', 'text', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('claimed_at', 'text', (c) => c.notNull())
    .addColumn('claimed_ip', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('facts', 'text')
    /** 'shutdown' | 'reboot' once the agent acknowledged such a command. */
    .addColumn('going_down', 'text')
    .execute();
  await db.schema
    .createIndex('agent_sessions_machine')
    .on('agent_sessions')
    .columns(['machine_id', 'claimed_at'])
    .execute();
  await db.schema
    .createTable('agent_commands')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('text', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('delivered_at', 'text')
    .addColumn('done_at', 'text')
    .addColumn('result', 'text')
    .execute();
  await db.schema
    .createIndex('agent_commands_session')
    .on('agent_commands')
    .columns(['session_id', 'state'])
    .execute();
  await db.schema
    .createIndex('agent_commands_machine')
    .on('agent_commands')
    .columns(['machine_id', 'created_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('agent_commands').execute();
  await db.schema.dropTable('agent_sessions').execute();
}
