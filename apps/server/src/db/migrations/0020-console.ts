import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Console VMs (issue 15 point 3): a QEMU VM on the server whose disk is an image's maintenance
 * writeback, shown in the browser over VNC. One row per image (one console VM per image at a time);
 * `machine_id` is the image's console machine, a disabled machine row whose maintenance sessions
 * are the VM's (so apply / discard and the sessions page work as for a physical PC).
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('console_vms')
    .addColumn('image_id', 'text', (c) => c.primaryKey().references('images.id').onDelete('cascade'))
    .addColumn('machine_id', 'text', (c) =>
      c.notNull().unique().references('machines.id').onDelete('cascade'),
    )
    .addColumn('session_id', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer')
    .addColumn('accel', 'text', (c) => c.notNull())
    .addColumn('memory_mib', 'integer', (c) => c.notNull())
    .addColumn('cpus', 'integer', (c) => c.notNull())
    .addColumn('media_id', 'text')
    .addColumn('error', 'text')
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('stopped_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('console_vms').execute();
}
