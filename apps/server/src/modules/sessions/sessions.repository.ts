import type { Kysely, Selectable } from 'kysely';
import {
  parseSort,
  type BootEvent,
  type BootEventKind,
  type Connection,
  type Page,
  type SESSION_SORT_FIELDS,
  type Session,
  type SessionListQuery,
} from '@ggnet/contracts';
import type { BootEventsTable, DB, SessionsTable } from '../../db/schema.js';
import { parseJson } from '../../lib/json.js';

export type SessionRow = Selectable<SessionsTable>;
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
});

export const toBootEvent = (r: Selectable<BootEventsTable>): BootEvent => ({
  id: Number(r.id),
  at: r.at,
  mac: r.mac,
  machineId: r.machine_id,
  sessionId: r.session_id,
  kind: r.kind as BootEventKind,
  detail: parseJson<Record<string, unknown>>(r.detail, {}),
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

  async insert(row: SessionRow, db: Kysely<DB> = this.db): Promise<void> {
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

  /** Every session that has not ended. */
  live(): Promise<SessionRow[]> {
    return this.db.selectFrom('sessions').selectAll().where('state', '<>', 'ended').execute();
  }

  async addBootEvent(e: {
    at: string;
    mac: string | null;
    machineId: string | null;
    sessionId: string | null;
    kind: BootEventKind;
    detail: Record<string, unknown>;
  }): Promise<void> {
    await this.db
      .insertInto('boot_events')
      .values({
        at: e.at,
        mac: e.mac,
        machine_id: e.machineId,
        session_id: e.sessionId,
        kind: e.kind,
        detail: JSON.stringify(e.detail),
      })
      .execute();
  }

  /** The machine was seen on the network (an initiator logged in from that address). */
  async touchMachine(machineId: string, at: string, ip: string | null): Promise<void> {
    await this.db
      .updateTable('machines')
      .set({ last_seen_at: at, ...(ip ? { last_ip: ip } : {}) })
      .where('id', '=', machineId)
      .execute();
  }

  machineMac(machineId: string): Promise<{ mac: string; name: string } | undefined> {
    return this.db
      .selectFrom('machines')
      .select(['mac', 'name'])
      .where('id', '=', machineId)
      .executeTakeFirst();
  }

  bootEvents(sessionId: string): Promise<Selectable<BootEventsTable>[]> {
    return this.db
      .selectFrom('boot_events')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('at')
      .orderBy('id')
      .execute();
  }
}
