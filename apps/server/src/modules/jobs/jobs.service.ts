import type { Job, JobListQuery, Page } from '@ggnet/contracts';
import { conflict, notFound } from '../../errors/app-error.js';
import { isUniqueViolation, nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import { toJob, type JobsRepository } from './jobs.repository.js';

export interface EnqueueOptions {
  maxAttempts?: number;
  /** ISO time before which the job is not started (default now). */
  runAt?: string;
  createdBy?: string | null;
  /** At most one queued/running job per key (e.g. `image.convert:<imageId>`). */
  dedupeKey?: string;
}

export class JobsService {
  constructor(
    private readonly repo: JobsRepository,
    private readonly bus: EventBus,
  ) {}

  async list(q: JobListQuery): Promise<Page<Job>> {
    const page = await this.repo.list(q);
    return { items: page.items.map(toJob), total: page.total };
  }

  async get(id: string): Promise<Job> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('job', id);
    return toJob(row);
  }

  /**
   * Adds a job to the durable queue. With a dedupeKey that an active job already holds, returns
   * that job instead (`created: false`), so schedulers in several processes never double up.
   */
  async enqueue(
    type: string,
    payload: Record<string, unknown>,
    opts: EnqueueOptions = {},
  ): Promise<{ job: Job; created: boolean }> {
    const now = nowIso();
    const id = newId();
    try {
      await this.repo.insert({
        id,
        type,
        state: 'queued',
        payload: JSON.stringify(payload),
        result: null,
        progress: null,
        attempts: 0,
        max_attempts: opts.maxAttempts ?? 3,
        error: null,
        run_at: opts.runAt ?? now,
        lease_owner: null,
        lease_expires_at: null,
        cancel_requested: 0,
        created_by: opts.createdBy ?? null,
        created_at: now,
        started_at: null,
        finished_at: null,
        updated_at: now,
        dedupe_key: opts.dedupeKey ?? null,
        heartbeat_at: null,
      });
    } catch (err) {
      if (opts.dedupeKey && isUniqueViolation(err)) {
        const existing = await this.repo.findActiveByKey(opts.dedupeKey);
        if (existing) return { job: toJob(existing), created: false };
      }
      throw err;
    }
    const job = await this.get(id);
    this.bus.publish('job.created', id, job);
    return { job, created: true };
  }

  /** Cancels a job that never started (no worker has touched it, nothing to clean up). */
  async dropUnstarted(id: string): Promise<boolean> {
    const now = nowIso();
    const row = await this.repo.findById(id);
    if (!row || row.state !== 'queued' || row.attempts > 0) return false;
    const n = await this.repo.update(
      id,
      { state: 'cancelled', error: 'cancelled', finished_at: now, updated_at: now },
      { state: 'queued' },
    );
    if (n === 1) this.bus.publish('job.updated', id, await this.get(id));
    return n === 1;
  }

  /** The queued or running job holding a dedupe key. */
  async activeByKey(key: string): Promise<Job | null> {
    const row = await this.repo.findActiveByKey(key);
    return row ? toJob(row) : null;
  }

  /**
   * Asks for a job to stop: a running one has its child process killed by its worker (seen on the
   * next heartbeat), a queued one is finished by the next worker that claims it. Either way a worker
   * runs the handler's cleanup (partial output, image state), so nothing is left half-made.
   */
  async cancel(id: string): Promise<Job> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('job', id);
    const now = nowIso();
    if (row.state === 'queued') {
      const n = await this.repo.update(
        id,
        { cancel_requested: 1, run_at: now, updated_at: now },
        { state: 'queued' },
      );
      if (n === 0) return this.cancel(id); // claimed meanwhile: ask its worker instead
    } else if (row.state === 'running') {
      await this.repo.update(id, { cancel_requested: 1, updated_at: now }, { state: 'running' });
    } else {
      throw conflict(
        'job_finished',
        `job is already ${row.state}`,
        'only queued or running jobs can be cancelled',
      );
    }
    const job = await this.get(id);
    this.bus.publish('job.updated', id, job);
    return job;
  }
}
