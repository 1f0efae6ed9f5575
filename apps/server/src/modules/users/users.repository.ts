import type { Kysely, Selectable } from 'kysely';
import {
  parseSort,
  type Page,
  type Role,
  type User,
  type UserListQuery,
  type USER_SORT_FIELDS,
} from '@ggnet/contracts';
import { containsInsensitive } from '../../db/database.js';
import type { DB, UsersTable } from '../../db/schema.js';

export type UserRow = Selectable<UsersTable>;

export const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  role: r.role as Role,
  disabled: r.disabled === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  lastLoginAt: r.last_login_at,
});

const SORT: Record<(typeof USER_SORT_FIELDS)[number], keyof UsersTable> = {
  username: 'username',
  role: 'role',
  createdAt: 'created_at',
  lastLoginAt: 'last_login_at',
};

export class UsersRepository {
  constructor(private readonly db: Kysely<DB>) {}

  findById(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByUsername(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async countActiveAdmins(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'admin')
      .where('disabled', '=', 0)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async list(q: UserListQuery): Promise<Page<UserRow>> {
    let query = this.db.selectFrom('users');
    if (q.q) query = query.where(containsInsensitive('username', q.q));
    if (q.role) query = query.where('role', '=', q.role);
    if (q.disabled !== undefined) query = query.where('disabled', '=', q.disabled ? 1 : 0);
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const { field, desc } = parseSort(q.sort, 'username');
    const col = SORT[field];
    const items = await query
      .selectAll()
      .orderBy(col, desc ? 'desc' : 'asc')
      .orderBy('id')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items, total: Number(total.n) };
  }

  async insert(row: UserRow): Promise<void> {
    await this.db.insertInto('users').values(row).execute();
  }

  async update(id: string, patch: Partial<Omit<UserRow, 'id'>>): Promise<void> {
    await this.db.updateTable('users').set(patch).where('id', '=', id).execute();
  }

  /** Every access token issued to the user before stops working (they carry the old version). */
  async bumpTokenVersion(id: string, at: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set((eb) => ({ token_version: eb('token_version', '+', 1), updated_at: at }))
      .where('id', '=', id)
      .execute();
  }

  async delete(id: string): Promise<number> {
    const r = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
