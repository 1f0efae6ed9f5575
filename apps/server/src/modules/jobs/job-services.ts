import type { Container } from '../../container.js';
import type { EventBus } from '../../events/event-bus.js';
import { RETENTION_JOB } from '../images/image-retention.job.js';
import { UPLOAD_EXPIRY_JOB } from '../uploads/upload-expiry.job.js';
import { SCHEDULED_BACKUP_JOB } from '../backup/backup.job.js';
import { CLEANUP_JOB } from '../alerts/alerts-cleanup.job.js';
import type { ImagesService } from '../images/images.service.js';
import { JobWorker, type JobWorkerOptions } from './job-worker.js';
import { toJob, type JobsRepository } from './jobs.repository.js';

/** The worker of a container: its handlers, config.workerLeaseSec/workerConcurrency, hourly retention. */
export function createJobWorker(c: Container, overrides: JobWorkerOptions = {}): JobWorker {
  return new JobWorker(c.repos.jobs, c.jobs, c.bus, c.log, c.jobHandlers, {
    leaseMs: c.config.workerLeaseSec * 1000,
    concurrency: c.config.workerConcurrency,
    schedules: [
      { type: RETENTION_JOB, everyMs: 3600_000 },
      { type: UPLOAD_EXPIRY_JOB, everyMs: 6 * 3600_000 },
      // the daily backup: checked every hour, made when due (settings backup.*)
      { type: SCHEDULED_BACKUP_JOB, everyMs: 3600_000 },
      // cleanup of kept writebacks unused for alerts.cleanupAfterDays, when alerts.cleanupEnabled
      { type: CLEANUP_JOB, everyMs: 3600_000 },
    ],
    ...overrides,
  });
}

/**
 * Jobs run by another process (`ggnet worker`) change only the database. This relays their
 * progress and state changes to this process's event bus (and so to the events WebSocket), with
 * image.updated for the image a job works on. Jobs of the local worker publish directly.
 */
export class JobEventsRelay {
  private timer: NodeJS.Timeout | null = null;
  private since = new Date().toISOString();
  private readonly seen = new Map<string, string>();
  private busy = false;

  constructor(
    private readonly repo: JobsRepository,
    private readonly bus: EventBus,
    private readonly images: ImagesService,
    private readonly isLocal: (leaseOwner: string | null) => boolean,
    private readonly everyMs = 1000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.poll()
        .catch(() => undefined)
        .finally(() => (this.busy = false));
    }, this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async poll(): Promise<void> {
    const rows = await this.repo.changedSince(this.since);
    for (const r of rows) {
      if (r.updated_at > this.since) this.since = r.updated_at;
      if (!r.lease_owner || this.isLocal(r.lease_owner)) continue;
      const key = `${r.updated_at}|${r.state}|${r.progress ?? ''}`;
      const before = this.seen.get(r.id);
      if (before === key) continue;
      this.seen.set(r.id, key);
      const job = toJob(r);
      const stateChanged = before?.split('|')[1] !== r.state;
      if (r.state === 'running' && !stateChanged) this.bus.publish('job.progress', r.id, job);
      else this.bus.publish('job.updated', r.id, job);
      const imageId = job.payload.imageId;
      if (stateChanged && typeof imageId === 'string') {
        await this.images.publish('image.updated', imageId).catch(() => undefined);
      }
    }
    if (this.seen.size > 5000) this.seen.clear();
  }
}

/** Background service: the in-process worker (unless config.worker is false) and the relay. */
export async function startJobServices(c: Container): Promise<() => Promise<void>> {
  const worker = c.config.worker ? createJobWorker(c) : null;
  worker?.start();
  const relay = new JobEventsRelay(c.repos.jobs, c.bus, c.images, (owner) => owner === worker?.id);
  relay.start();
  return async () => {
    relay.stop();
    await worker?.stop();
  };
}
