import type { Kysely, Selectable } from 'kysely';
import { parseSort, type Lun, type Page, type Target, type TargetListQuery } from '@ggnet/contracts';
import type { DB, TargetsTable } from '../../db/schema.js';
import { escapeLike, likeEscaped, nowIso } from '../../db/database.js';
import { parseJson } from '../../lib/json.js';

export type TargetRow = Selectable<TargetsTable>;

export const toTarget = (
  r: TargetRow,
  connections: { initiator: string; address: string }[] = [],
  reveal = false,
  portal: string | null = null,
): Target => ({
  id: r.id,
  iqn: r.iqn,
  machineId: r.machine_id,
  sessionId: r.session_id,
  backend: r.backend as Target['backend'],
  luns: parseJson<Lun[]>(r.luns, []),
  initiatorIqn: r.initiator_iqn,
  chapUser: r.chap_user,
  ...(reveal ? { chapSecret: r.chap_secret } : {}),
  mutualChap: r.mutual_user !== null,
  mutualUser: r.mutual_user,
  ...(reveal ? { mutualSecret: r.mutual_secret } : {}),
  portal,
  allowedAddress: r.allowed_address,
  state: r.state as Target['state'],
  error: r.error,
  connections,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class TargetsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  findById(id: string): Promise<TargetRow | undefined> {
    return this.db.selectFrom('targets').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByIqn(iqn: string): Promise<TargetRow | undefined> {
    return this.db.selectFrom('targets').selectAll().where('iqn', '=', iqn).executeTakeFirst();
  }

  all(): Promise<TargetRow[]> {
    return this.db.selectFrom('targets').selectAll().execute();
  }

  /** Targets per daemon (rows not being deleted): the load the placement of a new target balances. */
  async loadByDaemon(): Promise<Map<number, number>> {
    const rows = await this.db
      .selectFrom('targets')
      .select(['tgt_daemon', (eb) => eb.fn.countAll<number>().as('n')])
      .where('state', '!=', 'deleting')
      .groupBy('tgt_daemon')
      .execute();
    // rows made before migration 0017 (no daemon) are served by the first daemon: one count with its own
    const load = new Map<number, number>();
    for (const r of rows) load.set(r.tgt_daemon ?? 0, (load.get(r.tgt_daemon ?? 0) ?? 0) + Number(r.n));
    return load;
  }

  bySession(sessionId: string, db: Kysely<DB> = this.db): Promise<TargetRow[]> {
    return db.selectFrom('targets').selectAll().where('session_id', '=', sessionId).execute();
  }

  /**
   * Of these targets, the ones made for a session that does not exist yet (a boot prepared ahead,
   * not claimed): their CHAP secrets go to that boot's script only, never to the API.
   */
  async unclaimed(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await this.db
      .selectFrom('targets as t')
      .leftJoin('sessions as s', 's.id', 't.session_id')
      .select('t.id')
      .where('t.id', 'in', ids)
      .where('t.session_id', 'is not', null)
      .where('s.id', 'is', null)
      .execute();
    return new Set(rows.map((r) => r.id));
  }

  /** Conditional state change: returns how many rows changed (0 = someone else got there first). */
  async setState(id: string, state: string, from: string[], extra: Partial<TargetRow> = {}): Promise<number> {
    const r = await this.db
      .updateTable('targets')
      .set({ state, updated_at: new Date().toISOString(), ...extra })
      .where('id', '=', id)
      .where('state', 'in', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async list(q: TargetListQuery): Promise<Page<TargetRow>> {
    let query = this.db.selectFrom('targets');
    if (q.machineId) query = query.where('machine_id', '=', q.machineId);
    if (q.state) query = query.where('state', '=', q.state);
    if (q.q) query = query.where(likeEscaped('iqn', `%${escapeLike(q.q)}%`));
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const { field, desc } = parseSort(q.sort, 'createdAt');
    const col = field === 'iqn' ? 'iqn' : 'created_at';
    const items = await query
      .selectAll()
      .orderBy(col, desc ? 'desc' : 'asc')
      .orderBy('id')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items, total: Number(total.n) };
  }

  async insert(row: TargetRow, db: Kysely<DB> = this.db): Promise<void> {
    await db.insertInto('targets').values(row).execute();
    await this.notePrefix(row.iqn.split(':')[0]!, db);
  }

  /** Records an IQN prefix as GGnet's (see migration 0004); a known one is left as it is. */
  async notePrefix(prefix: string, db: Kysely<DB> = this.db): Promise<void> {
    await db
      .insertInto('iqn_prefixes')
      .values({ prefix, first_used_at: nowIso() })
      .onConflict((oc) => oc.column('prefix').doNothing())
      .execute();
  }

  /** Every IQN prefix GGnet has named a target under. */
  async prefixes(): Promise<string[]> {
    const rows = await this.db.selectFrom('iqn_prefixes').select('prefix').execute();
    return rows.map((r) => r.prefix);
  }

  async update(id: string, patch: Partial<Omit<TargetRow, 'id'>>, db: Kysely<DB> = this.db): Promise<void> {
    await db.updateTable('targets').set(patch).where('id', '=', id).execute();
  }

  async delete(id: string, db: Kysely<DB> = this.db): Promise<void> {
    await db.deleteFrom('targets').where('id', '=', id).execute();
  }
}
