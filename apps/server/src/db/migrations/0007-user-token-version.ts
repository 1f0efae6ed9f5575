import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * A counter per user that every access token carries (`tv`). Raising it (password reset, account
 * disabled) makes every access token issued before stop working at once, instead of at its expiry.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('token_version', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('token_version').execute();
}
