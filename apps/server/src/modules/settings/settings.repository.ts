import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

/** One row per settings group: the keys an admin changed, as JSON. */
export class SettingsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async all(): Promise<Record<string, unknown>> {
    const rows = await this.db.selectFrom('settings').select(['key', 'value']).execute();
    const out: Record<string, unknown> = {};
    for (const r of rows) {
      try {
        out[r.key] = JSON.parse(r.value);
      } catch {
        // a corrupt row falls back to defaults rather than stopping the server
      }
    }
    return out;
  }

  async put(groups: Record<string, unknown>, by: string | null, at: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const [key, value] of Object.entries(groups)) {
        await trx
          .insertInto('settings')
          .values({ key, value: JSON.stringify(value), updated_at: at, updated_by: by })
          .onConflict((oc) =>
            oc.column('key').doUpdateSet({ value: JSON.stringify(value), updated_at: at, updated_by: by }),
          )
          .execute();
      }
    });
  }
}
