import { sql, type Kysely, type Selectable } from 'kysely';
import {
  parseSort,
  type Job,
  type JobListQuery,
  type JobProgress,
  type JOB_SORT_FIELDS,
  type JobState,
  type Page,
} from '@ggnet/contracts';
import type { Dialect } from '../../db/migrations/index.js';
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

const SORT: Record<(typeof JOB_SORT_FIELDS)[number], keyof JobsTable> = {
  createdAt: 'created_at',
  state: 'state',
  type: 'type',
  runAt: 'run_at',
};

export const ACTIVE_JOB_STATES = ['queued', 'running'] as const;

/**
 * All SQL of the durable job queue. Claiming is one statement (`UPDATE ... WHERE id = (SELECT ...
 * LIMIT 1) RETURNING *`): on SQLite a single write transaction, serialised by the database lock; on
 * PostgreSQL the inner SELECT takes the row `FOR UPDATE SKIP LOCKED`. Either way two workers never
 * get the same job. Every state change of a running job is guarded by `lease_owner`, so a worker
 * whose lease was taken over can no longer write.
 */
export class JobsRepository {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly dialect: Dialect = 'sqlite',
  ) {}

  findById(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(q: JobListQuery): Promise<Page<JobRow>> {
    let query = this.db.selectFrom('jobs');
    if (q.state) query = query.where('state', '=', q.state);
    if (q.type) query = query.where('type', '=', q.type);
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const { field, desc } = parseSort(q.sort, '-createdAt');
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

  async insert(row: JobRow): Promise<void> {
    await this.db.insertInto('jobs').values(row).execute();
  }

  /** The queued or running job with that dedupe key, if any. */
  findActiveByKey(key: string): Promise<JobRow | undefined> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('dedupe_key', '=', key)
      .where('state', 'in', [...ACTIVE_JOB_STATES])
      .executeTakeFirst();
  }

  /** Takes the next due job of one of `types`, or undefined. */
  async claim(owner: string, types: string[], now: string, leaseUntil: string): Promise<JobRow | undefined> {
    if (!types.length) return undefined;
    let next = this.db
      .selectFrom('jobs')
      .select('id')
      .where('state', '=', 'queued')
      .where('run_at', '<=', now)
      .where('type', 'in', types)
      .orderBy('run_at')
      .orderBy('created_at')
      .limit(1);
    if (this.dialect === 'postgres') next = next.forUpdate().skipLocked();
    return this.db
      .updateTable('jobs')
      .set({
        state: 'running',
        lease_owner: owner,
        lease_expires_at: leaseUntil,
        heartbeat_at: now,
        attempts: sql<number>`attempts + 1`,
        started_at: now,
        finished_at: null,
        updated_at: now,
      })
      .where('id', '=', next)
      .where('state', '=', 'queued')
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Extends the lease of a running job and stores its progress. Returns whether a cancel was
   * requested, or null when this worker no longer owns the job (lease expired and taken over).
   */
  async heartbeat(
    id: string,
    owner: string,
    now: string,
    leaseUntil: string,
    progress: JobProgress | null,
  ): Promise<{ cancelRequested: boolean } | null> {
    const r = await this.db
      .updateTable('jobs')
      .set({
        lease_expires_at: leaseUntil,
        heartbeat_at: now,
        updated_at: now,
        ...(progress ? { progress: JSON.stringify(progress) } : {}),
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .returning('cancel_requested')
      .executeTakeFirst();
    return r ? { cancelRequested: r.cancel_requested === 1 } : null;
  }

  /** Ends or re-queues a running job, only while `owner` still holds it. */
  async settle(id: string, owner: string, patch: Partial<Omit<JobRow, 'id'>>): Promise<boolean> {
    const r = await this.db
      .updateTable('jobs')
      .set(patch)
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Running jobs whose lease expired (their worker died or hung) go back to the queue at once.
   * The next claim decides what happens: retry, clean up after the last attempt, or cancel.
   */
  async requeueExpired(now: string): Promise<JobRow[]> {
    return this.db
      .updateTable('jobs')
      .set({
        state: 'queued',
        run_at: now,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
        error: sql<string>`'worker ' || coalesce(lease_owner, '?') || ' stopped responding (lease expired)'`,
      })
      .where('state', '=', 'running')
      .where('lease_expires_at', '<', now)
      .returningAll()
      .execute();
  }

  /** Jobs changed since `since` (ISO time), for relaying another process's progress as events. */
  changedSince(since: string): Promise<JobRow[]> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('updated_at', '>=', since)
      .orderBy('updated_at')
      .limit(500)
      .execute();
  }
}
