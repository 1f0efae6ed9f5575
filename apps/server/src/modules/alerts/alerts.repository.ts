import type { Kysely, Selectable } from 'kysely';
import type { Alert, AlertListQuery, Page, WritebackLimit } from '@ggnet/contracts';
import type { AlertsTable, DB } from '../../db/schema.js';

export type AlertRow = Selectable<AlertsTable>;

export const toAlert = (r: AlertRow): Alert => ({
  id: r.id,
  kind: r.kind as Alert['kind'],
  severity: r.severity as Alert['severity'],
  state: r.state as Alert['state'],
  subjectType: r.subject_type as Alert['subjectType'],
  subjectId: r.subject_id,
  subjectName: r.subject_name,
  machineId: r.machine_id,
  value: Number(r.value),
  threshold: Number(r.threshold),
  message: r.message,
  raisedAt: r.raised_at,
  updatedAt: r.updated_at,
  clearedAt: r.cleared_at,
  acknowledgedAt: r.acknowledged_at,
  acknowledgedBy: r.acknowledged_by,
});

/** The writer of `alerts` and `writeback_limits`; reads kept writebacks for the cleanup list. */
export class AlertsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  open(): Promise<AlertRow[]> {
    return this.db.selectFrom('alerts').selectAll().where('state', '=', 'raised').execute();
  }

  findById(id: string): Promise<AlertRow | undefined> {
    return this.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(q: AlertListQuery): Promise<Page<AlertRow>> {
    let query = this.db.selectFrom('alerts');
    if (q.state !== 'all') query = query.where('state', '=', q.state);
    if (q.kind) query = query.where('kind', '=', q.kind);
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const items = await query
      .selectAll()
      .orderBy('raised_at', 'desc')
      .orderBy('id')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items, total: Number(total.n) };
  }

  /** Open alerts per kind and severity (the Prometheus gauge). */
  async openCounts(): Promise<Array<{ kind: string; severity: string; n: number }>> {
    const rows = await this.db
      .selectFrom('alerts')
      .select(['kind', 'severity'])
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'raised')
      .groupBy(['kind', 'severity'])
      .execute();
    return rows.map((r) => ({ ...r, n: Number(r.n) }));
  }

  async insert(row: AlertRow): Promise<void> {
    await this.db.insertInto('alerts').values(row).execute();
  }

  /** Updates an open alert; returns false when it is no longer open (another process cleared it). */
  async updateOpen(id: string, patch: Partial<Omit<AlertRow, 'id'>>): Promise<boolean> {
    const r = await this.db
      .updateTable('alerts')
      .set(patch)
      .where('id', '=', id)
      .where('state', '=', 'raised')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async acknowledge(id: string, by: string | null, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('alerts')
      .set({ acknowledged_at: at, acknowledged_by: by })
      .where('id', '=', id)
      .where('acknowledged_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async limits(): Promise<WritebackLimit[]> {
    const rows = await this.db
      .selectFrom('writeback_limits as l')
      .leftJoin('machines as m', 'm.id', 'l.machine_id')
      .select(['l.machine_id', 'l.limit_bytes', 'l.updated_at', 'l.updated_by', 'm.name'])
      .orderBy('m.name')
      .execute();
    return rows.map((r) => ({
      machineId: r.machine_id,
      machineName: r.name,
      limitBytes: Number(r.limit_bytes),
      updatedAt: r.updated_at,
      updatedBy: r.updated_by,
    }));
  }

  async putLimit(machineId: string, limitBytes: number, by: string | null, at: string): Promise<void> {
    await this.db
      .insertInto('writeback_limits')
      .values({ machine_id: machineId, limit_bytes: limitBytes, updated_at: at, updated_by: by })
      .onConflict((oc) =>
        oc.column('machine_id').doUpdateSet({ limit_bytes: limitBytes, updated_at: at, updated_by: by }),
      )
      .execute();
  }

  async deleteLimit(machineId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('writeback_limits')
      .where('machine_id', '=', machineId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  machineExists(id: string): Promise<{ id: string; name: string } | undefined> {
    return this.db.selectFrom('machines').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
  }

  /**
   * Kept writebacks not used since `before` (the end of the session that last used them, else their
   * creation), oldest first.
   */
  async keptUnusedSince(before: string): Promise<
    Array<{
      id: string;
      machine_id: string;
      machine_name: string | null;
      image_id: string;
      image_name: string | null;
      created_at: string;
      last_used_at: string;
    }>
  > {
    const rows = await this.db
      .selectFrom('writebacks as w')
      .leftJoin('sessions as s', 's.id', 'w.session_id')
      .leftJoin('machines as m', 'm.id', 'w.machine_id')
      .leftJoin('images as i', 'i.id', 'w.image_id')
      .select([
        'w.id',
        'w.machine_id',
        'm.name as machine_name',
        'w.image_id',
        'i.name as image_name',
        'w.created_at',
      ])
      .select((eb) => eb.fn.coalesce('s.ended_at', 'w.created_at').as('last_used_at'))
      .where('w.state', '=', 'kept')
      .where((eb) => eb(eb.fn.coalesce('s.ended_at', 'w.created_at'), '<', before))
      .orderBy('last_used_at')
      .execute();
    return rows.map((r) => ({ ...r, last_used_at: String(r.last_used_at) }));
  }
}
