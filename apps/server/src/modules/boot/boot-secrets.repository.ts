import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

/**
 * The maintenance PIN's hash, in the settings table under a key that is not a settings group, so
 * that GET /api/v1/settings (which returns only the groups of the Settings schema) never shows it.
 */
const PIN_KEY = 'secret:boot.maintenancePin';

export class BootSecretsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async pinHash(): Promise<string | null> {
    const row = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', PIN_KEY)
      .executeTakeFirst();
    if (!row) return null;
    try {
      const v = JSON.parse(row.value) as unknown;
      return typeof v === 'string' && v ? v : null;
    } catch {
      return null;
    }
  }

  async setPinHash(hash: string | null, by: string | null, at: string): Promise<void> {
    if (hash === null) {
      await this.db.deleteFrom('settings').where('key', '=', PIN_KEY).execute();
      return;
    }
    const value = JSON.stringify(hash);
    await this.db
      .insertInto('settings')
      .values({ key: PIN_KEY, value, updated_at: at, updated_by: by })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: at, updated_by: by }))
      .execute();
  }
}
