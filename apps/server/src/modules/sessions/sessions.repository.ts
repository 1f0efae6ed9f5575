import type { Insertable, Kysely, Selectable } from 'kysely';
import {
  parseSort,
  type Connection,
  type Page,
  type SESSION_SORT_FIELDS,
  type Session,
  type SessionListQuery,
} from '@ggnet/contracts';
import type { DB, SessionsTable } from '../../db/schema.js';
import { parseJson } from '../../lib/json.js';
import { savedTraffic } from '../traffic/persisted-traffic.js';

export type SessionRow = Selectable<SessionsTable>;

export interface SessionForStats {
  id: string;
  machine_id: string;
  machine_name: string | null;
  image_id: string | null;
  image_name: string | null;
  started_at: string;
}
type SessionRowWithName = SessionRow & { machine_name: string | null };

export const toSession = (r: SessionRowWithName): Session => ({
  id: r.id,
  machineId: r.machine_id,
  machineName: r.machine_name,
  imageId: r.image_id,
  versionId: r.version_id,
  targetId: r.target_id,
  writebackId: r.writeback_id,
  mode: r.mode as Session['mode'],
  state: r.state as Session['state'],
  endReason: r.end_reason as Session['endReason'],
  error: r.error,
  clientIp: r.client_ip,
  startedAt: r.started_at,
  readyAt: r.ready_at,
  activeAt: r.active_at,
  endedAt: r.ended_at,
  connections: parseJson<Connection[]>(r.connections, []),
  lastActivityAt: r.last_activity_at,
  // saved totals (the session monitor's live figures replace them while it samples the session)
  traffic: savedTraffic(r.traffic),
});

const SORT: Record<
  (typeof SESSION_SORT_FIELDS)[number],
  's.started_at' | 's.state' | 's.ended_at' | 'm.name'
> = {
  startedAt: 's.started_at',
  state: 's.state',
  endedAt: 's.ended_at',
  machineName: 'm.name',
};

/** Owner of the sessions table (the session orchestrator and the session monitor write through it). */
export class SessionsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private base() {
    return this.db.selectFrom('sessions as s').leftJoin('machines as m', 'm.id', 's.machine_id');
  }

  async findById(id: string): Promise<SessionRowWithName | undefined> {
    return this.base()
      .selectAll('s')
      .select('m.name as machine_name')
      .where('s.id', '=', id)
      .executeTakeFirst();
  }

  async list(q: SessionListQuery): Promise<Page<SessionRowWithName>> {
    let query = this.base();
    if (q.machineId) query = query.where('s.machine_id', '=', q.machineId);
    if (q.groupId === 'none') query = query.where('m.group_id', 'is', null);
    else if (q.groupId) query = query.where('m.group_id', '=', q.groupId);
    if (q.state) query = query.where('s.state', '=', q.state);
    if (q.live === 'true') query = query.where('s.state', '<>', 'ended');
    if (q.live === 'false') query = query.where('s.state', '=', 'ended');
    if (q.q)
      query = query.where('m.name', 'like', `%${q.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const { field, desc } = parseSort(q.sort, '-startedAt');
    const col = SORT[field];
    const items = await query
      .selectAll('s')
      .select('m.name as machine_name')
      .orderBy(col, desc ? 'desc' : 'asc')
      .orderBy('s.id')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items, total: Number(total.n) };
  }

  async update(
    id: string,
    patch: Partial<Omit<SessionRow, 'id'>>,
    where: { notState?: string } = {},
  ): Promise<number> {
    let q = this.db.updateTable('sessions').set(patch).where('id', '=', id);
    if (where.notState) q = q.where('state', '<>', where.notState);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async insert(row: Insertable<SessionsTable>, db: Kysely<DB> = this.db): Promise<void> {
    await db.insertInto('sessions').values(row).execute();
  }

  /** The machine's live session (at most one, enforced by a unique index). */
  liveForMachine(machineId: string, db: Kysely<DB> = this.db): Promise<SessionRow | undefined> {
    return db
      .selectFrom('sessions')
      .selectAll()
      .where('machine_id', '=', machineId)
      .where('state', '<>', 'ended')
      .executeTakeFirst();
  }

  /** Writes sessions' traffic (JSON PersistedTraffic), ended ones too, in one transaction. */
  async saveTraffic(rows: ReadonlyArray<{ id: string; traffic: string }>): Promise<void> {
    if (!rows.length) return;
    await this.db.transaction().execute(async (tx) => {
      for (const r of rows)
        await tx.updateTable('sessions').set({ traffic: r.traffic }).where('id', '=', r.id).execute();
    });
  }

  /** Every session that has not ended. */
  live(): Promise<SessionRow[]> {
    return this.db.selectFrom('sessions').selectAll().where('state', '<>', 'ended').execute();
  }

  /** The live session of a client seen at this address (newest first). */
  async liveByIp(ip: string): Promise<{ id: string; machine_id: string; mac: string } | undefined> {
    return this.db
      .selectFrom('sessions as s')
      .innerJoin('machines as m', 'm.id', 's.machine_id')
      .select(['s.id', 's.machine_id', 'm.mac'])
      .where('s.state', '<>', 'ended')
      .where((eb) => eb.or([eb('s.client_ip', '=', ip), eb('m.last_ip', '=', ip)]))
      .orderBy('s.started_at', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** Sessions started since `since` (newest first), with machine and image names, for statistics. */
  startedSince(since: string, imageId: string | undefined, limit: number): Promise<SessionForStats[]> {
    let q = this.db
      .selectFrom('sessions as s')
      .leftJoin('machines as m', 'm.id', 's.machine_id')
      .leftJoin('images as i', 'i.id', 's.image_id')
      .select([
        's.id',
        's.machine_id',
        'm.name as machine_name',
        's.image_id',
        'i.name as image_name',
        's.started_at',
      ])
      .where('s.started_at', '>=', since);
    if (imageId) q = q.where('s.image_id', '=', imageId);
    return q.orderBy('s.started_at', 'desc').limit(limit).execute();
  }
}
