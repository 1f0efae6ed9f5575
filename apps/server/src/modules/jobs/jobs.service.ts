import type { Job, JobListQuery, Page } from '@ggnet/contracts';
import { conflict, notFound } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { toJob, type JobsRepository } from './jobs.repository.js';

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
   * A queued job is cancelled at once; a running one gets cancel_requested, which its worker sees on
   * the next heartbeat and answers by killing the child process and cleaning up.
   */
  async cancel(id: string): Promise<Job> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('job', id);
    const now = nowIso();
    if (row.state === 'queued') {
      const n = await this.repo.update(
        id,
        { state: 'cancelled', finished_at: now, updated_at: now, error: 'cancelled' },
        { state: 'queued' },
      );
      if (n === 0) return this.cancel(id); // claimed meanwhile: ask the worker instead
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
