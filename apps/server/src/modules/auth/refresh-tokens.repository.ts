import type { Kysely, Selectable } from 'kysely';
import type { DB, RefreshTokensTable } from '../../db/schema.js';

export type RefreshTokenRow = Selectable<RefreshTokensTable>;

export class RefreshTokensRepository {
  constructor(private readonly db: Kysely<DB>) {}

  findByHash(hash: string): Promise<RefreshTokenRow | undefined> {
    return this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  }

  async insert(row: RefreshTokenRow): Promise<void> {
    await this.db.insertInto('refresh_tokens').values(row).execute();
  }

  /** Marks a token used; false when another request used it first (the race is reuse too). */
  async markUsed(id: string, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('refresh_tokens')
      .set({ used_at: at })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async revokeFamily(familyId: string, at: string): Promise<void> {
    await this.db
      .updateTable('refresh_tokens')
      .set({ revoked_at: at })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** True when the login (refresh family) was revoked: logout, reuse detected, account disabled. */
  async familyRevoked(familyId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('refresh_tokens')
      .select('id')
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is not', null)
      .limit(1)
      .executeTakeFirst();
    return !!r;
  }

  async revokeAllForUser(userId: string, at: string): Promise<void> {
    await this.db
      .updateTable('refresh_tokens')
      .set({ revoked_at: at })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  async deleteExpired(before: string): Promise<void> {
    await this.db.deleteFrom('refresh_tokens').where('expires_at', '<', before).execute();
  }
}
