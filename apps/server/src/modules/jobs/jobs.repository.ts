import type { Kysely, Selectable } from 'kysely';
import type { Job, JobListQuery, JobProgress, JobState, Page } from '@ggnet/contracts';
import type { DB, JobsTable } from '../../db/schema.js';
import { parseJson } from '../../lib/json.js';

export type JobRow = Selectable<JobsTable>;

export const toJob = (r: JobRow): Job => ({
  id: r.id,
  type: r.type,
  state: r.state as JobState,
  progress: parseJson<JobProgress | null>(r.progress, null),
  attempts: r.attempts,
  maxAttempts: r.max_attempts,
  error: r.error,
  payload: parseJson<Record<string, unknown>>(r.payload, {}),
  result: parseJson<Record<string, unknown> | null>(r.result, null),
  cancelRequested: r.cancel_requested === 1,
  createdBy: r.created_by,
  createdAt: r.created_at,
  runAt: r.run_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const SORT: Record<string, keyof JobsTable> = {
  createdAt: 'created_at',
  state: 'state',
  type: 'type',
  runAt: 'run_at',
};

export class JobsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  findById(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(q: JobListQuery): Promise<Page<JobRow>> {
    let query = this.db.selectFrom('jobs');
    if (q.state) query = query.where('state', '=', q.state);
    if (q.type) query = query.where('type', '=', q.type);
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const desc = q.sort ? q.sort.startsWith('-') : true;
    const col = SORT[q.sort?.replace(/^-/, '') ?? 'createdAt'] ?? 'created_at';
    const items = await query
      .selectAll()
      .orderBy(col, desc ? 'desc' : 'asc')
      .orderBy('id')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items, total: Number(total.n) };
  }

  async update(
    id: string,
    patch: Partial<Omit<JobRow, 'id'>>,
    where: { state?: string } = {},
  ): Promise<number> {
    let q = this.db.updateTable('jobs').set(patch).where('id', '=', id);
    if (where.state) q = q.where('state', '=', where.state);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}
