import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Job, JobProgress } from '@ggnet/contracts';
import type { Logger } from 'pino';
import type { EventBus } from '../../events/event-bus.js';
import type { JobsRepository, JobRow } from './jobs.repository.js';
import { toJob } from './jobs.repository.js';
import type { JobsService } from './jobs.service.js';
import {
  abortReason,
  PermanentJobError,
  type AbortReason,
  type JobHandler,
  type JobOutcome,
} from './job-types.js';
import { ProgressTracker } from './progress-tracker.js';

export interface JobWorkerOptions {
  /** Unique per worker; stored as the lease owner. */
  id?: string;
  /** A job whose worker has not renewed its lease for this long is taken back (default 30 s). */
  leaseMs?: number;
  /** How often the lease is renewed and cancel requests are looked for (default leaseMs/6, 0.2..5 s). */
  heartbeatMs?: number;
  /** Progress is written to the database at most this often (default 1 s). */
  progressWriteMs?: number;
  /** job.progress events on the bus at most this often (default 250 ms). */
  progressEventMs?: number;
  /** How often the queue is polled when idle (default 1 s); local enqueues wake the worker at once. */
  pollMs?: number;
  /** Jobs run at the same time (default 1: conversions are disk-bound). */
  concurrency?: number;
  /** Retry delay after attempt n: base * 2^(n-1), capped, +-20 % jitter (defaults 5 s, 5 min). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Recurring jobs (retention...), enqueued with a dedupe key so several workers never double up. */
  schedules?: Array<{ type: string; everyMs: number; payload?: Record<string, unknown> }>;
}

interface Running {
  row: JobRow;
  ac: AbortController;
  done: Promise<void>;
  kick: () => void;
}

export const workerId = () => `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Runs jobs from the durable queue: claims with a lease, renews it with heartbeats (which also
 * carry progress and bring back cancel requests), retries with backoff, declares a job dead after
 * its last attempt, and requeues jobs of workers that died. Runs inside `ggnet serve` or alone as
 * `ggnet worker`; any number of workers may share one database.
 */
export class JobWorker {
  readonly id: string;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly running = new Map<string, Running>();
  private readonly opts: Required<Omit<JobWorkerOptions, 'id' | 'heartbeatMs'>> & { heartbeatMs: number };
  private loopDone: Promise<void> | null = null;
  private stopping = new AbortController();
  private wake: () => void = () => undefined;
  private unsubscribe: (() => void) | null = null;
  private lastScheduled = new Map<string, number>();

  constructor(
    private readonly repo: JobsRepository,
    private readonly jobs: JobsService,
    private readonly bus: EventBus,
    private readonly log: Logger,
    handlers: JobHandler[],
    options: JobWorkerOptions = {},
  ) {
    for (const h of handlers) this.handlers.set(h.type, h);
    this.id = options.id ?? workerId();
    const leaseMs = options.leaseMs ?? 30_000;
    this.opts = {
      leaseMs,
      heartbeatMs: options.heartbeatMs ?? Math.min(5000, Math.max(200, Math.floor(leaseMs / 6))),
      progressWriteMs: options.progressWriteMs ?? 1000,
      progressEventMs: options.progressEventMs ?? 250,
      pollMs: options.pollMs ?? 1000,
      concurrency: options.concurrency ?? 1,
      backoffBaseMs: options.backoffBaseMs ?? 5000,
      backoffMaxMs: options.backoffMaxMs ?? 300_000,
      schedules: options.schedules ?? [],
    };
  }

  get types(): string[] {
    return [...this.handlers.keys()];
  }

  /** Ids of the jobs this worker is running now. */
  get active(): string[] {
    return [...this.running.keys()];
  }

  start(): void {
    if (this.loopDone) return;
    this.stopping = new AbortController();
    this.unsubscribe = this.bus.subscribe((e) => {
      if (e.type === 'job.created') this.wake();
      if (e.type === 'job.updated') {
        const job = e.data as Job | null;
        if (job?.cancelRequested) {
          const r = this.running.get(e.id);
          if (r) r.kick();
          else this.wake();
        }
      }
    });
    this.loopDone = this.loop();
    this.log.info({ worker: this.id, types: this.types }, 'job worker started');
  }

  /** Stops claiming, aborts running jobs (they go back to the queue) and waits for them. */
  async stop(): Promise<void> {
    if (!this.loopDone) return;
    this.stopping.abort();
    this.wake();
    this.unsubscribe?.();
    for (const r of this.running.values()) r.ac.abort('shutdown' satisfies AbortReason);
    await Promise.allSettled([this.loopDone]);
    // a claim in flight when stop() was called starts its job after the abort above: wait until
    // every job (those too) has handed itself back, so nothing touches the database after stop()
    while (this.running.size > 0) {
      for (const r of this.running.values()) r.ac.abort('shutdown' satisfies AbortReason);
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
    }
    this.loopDone = null;
    this.log.info({ worker: this.id }, 'job worker stopped');
  }

  private async loop(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await this.tick();
      } catch (err) {
        this.log.error({ err }, 'job worker poll failed');
      }
      if (this.stopping.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.opts.pollMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** One pass: requeue jobs of dead workers, enqueue due schedules, claim while there is room. */
  async tick(): Promise<void> {
    const now = new Date();
    const requeued = await this.repo.requeueExpired(now.toISOString());
    for (const r of requeued) {
      this.log.warn({ job: r.id, type: r.type, error: r.error }, 'job requeued after its lease expired');
      this.bus.publish('job.updated', r.id, toJob(r));
    }
    for (const s of this.opts.schedules) {
      const last = this.lastScheduled.get(s.type) ?? 0;
      if (now.getTime() - last < s.everyMs) continue;
      this.lastScheduled.set(s.type, now.getTime());
      await this.jobs.enqueue(s.type, s.payload ?? {}, { dedupeKey: `schedule:${s.type}`, maxAttempts: 1 });
    }
    while (this.running.size < this.opts.concurrency && !this.stopping.signal.aborted) {
      const t = new Date();
      const row = await this.repo.claim(
        this.id,
        this.types,
        t.toISOString(),
        new Date(t.getTime() + this.opts.leaseMs).toISOString(),
      );
      if (!row) break;
      this.start1(row);
    }
  }

  private start1(row: JobRow): void {
    const ac = new AbortController();
    let kick: () => void = () => undefined;
    const entry: Running = { row, ac, done: Promise.resolve(), kick: () => kick() };
    this.running.set(row.id, entry);
    if (this.stopping.signal.aborted) ac.abort('shutdown' satisfies AbortReason);
    entry.done = this.execute(row, ac, (k) => (kick = k))
      .catch((err: unknown) => {
        // settling failed (database gone...): the lease expires and another worker takes the job back
        this.log.error({ err, job: row.id, type: row.type }, 'job could not be settled');
      })
      .finally(() => {
        this.running.delete(row.id);
        this.wake();
      });
  }

  private async execute(row: JobRow, ac: AbortController, setKick: (k: () => void) => void): Promise<void> {
    const handler = this.handlers.get(row.type)!;
    const job = toJob(row);
    const log = this.log.child({ job: row.id, type: row.type, attempt: row.attempts });
    const tracker = new ProgressTracker();
    let progressDirty = false;
    let lastEvent = 0;
    let lastBeat = Date.now();
    const hb: { beating: Promise<void> | null } = { beating: null };

    const beat = async () => {
      const t = new Date();
      const progress = progressDirty ? tracker.value : null;
      progressDirty = false;
      const r = await this.repo.heartbeat(
        row.id,
        this.id,
        t.toISOString(),
        new Date(t.getTime() + this.opts.leaseMs).toISOString(),
        progress,
      );
      lastBeat = Date.now();
      if (!r) ac.abort('lease_lost' satisfies AbortReason);
      else if (r.cancelRequested) ac.abort('cancelled' satisfies AbortReason);
    };
    const tickMs = Math.min(this.opts.heartbeatMs, this.opts.progressWriteMs);
    const timer = setInterval(() => {
      if (hb.beating || ac.signal.aborted) return;
      if (!progressDirty && Date.now() - lastBeat < this.opts.heartbeatMs) return;
      hb.beating = beat()
        .catch((err: unknown) => log.warn({ err }, 'heartbeat failed'))
        .finally(() => (hb.beating = null));
    }, tickMs);
    setKick(() => {
      if (!hb.beating && !ac.signal.aborted) {
        hb.beating = beat()
          .catch((err: unknown) => log.warn({ err }, 'heartbeat failed'))
          .finally(() => (hb.beating = null));
      }
    });

    const progress = (p: Parameters<typeof tracker.update>[0]) => {
      const value = tracker.update(p);
      progressDirty = true;
      const now = Date.now();
      if (now - lastEvent >= this.opts.progressEventMs || value.percent >= 100) {
        lastEvent = now;
        this.bus.publish('job.progress', row.id, { ...job, state: 'running', progress: value });
      }
    };

    const settle = async (patch: Partial<JobRow>) => {
      const ok = await this.repo.settle(row.id, this.id, { ...patch, updated_at: new Date().toISOString() });
      if (!ok) log.warn('job was taken over by another worker before it could be settled');
      const fresh = await this.repo.findById(row.id);
      if (fresh) this.bus.publish('job.updated', row.id, toJob(fresh));
    };
    const cleanup = async () => {
      try {
        await handler.cleanup?.(job, log);
      } catch (err) {
        log.error({ err }, 'job cleanup failed');
      }
    };
    const giveUp = async (outcome: JobOutcome, error: string, attempts = row.attempts, cause?: unknown) => {
      await cleanup();
      try {
        await handler.onGiveUp?.(job, outcome, error, log, cause);
      } catch (err) {
        log.error({ err }, 'job give-up hook failed');
      }
      const now = new Date().toISOString();
      await settle({ state: outcome, error, finished_at: now, attempts, lease_expires_at: null });
      log.warn({ outcome, error }, `job ${outcome}`);
    };

    try {
      if (row.cancel_requested === 1) {
        await giveUp('cancelled', 'cancelled', Math.max(0, row.attempts - 1));
        return;
      }
      if (row.attempts > row.max_attempts) {
        // claimed only to clean up after a worker that died during the last attempt
        await giveUp(
          'dead',
          `${row.error ?? 'failed'} (after ${row.max_attempts} attempt${row.max_attempts === 1 ? '' : 's'})`,
          row.max_attempts,
        );
        return;
      }
      // claimed while the worker was stopping: hand it back without starting it
      if (ac.signal.aborted) throw new Error(`aborted (${abortReason(ac.signal) ?? 'before start'})`);
      log.info('job started');
      await cleanup();
      const result = await handler.run({ job, attempt: row.attempts, signal: ac.signal, progress, log });
      const reason = abortReason(ac.signal);
      if (reason) throw new Error(`aborted (${reason})`);
      const done: JobProgress = {
        ...(tracker.value ?? tracker.update({ percent: 100 })),
        percent: 100,
        etaSec: 0,
      };
      const now = new Date().toISOString();
      await settle({
        state: 'succeeded',
        result: JSON.stringify(result ?? {}),
        progress: JSON.stringify(done),
        error: null,
        finished_at: now,
        lease_expires_at: null,
      });
      log.info('job succeeded');
    } catch (err) {
      const reason = abortReason(ac.signal);
      const message = (err as Error)?.message ?? String(err);
      if (reason === 'lease_lost') {
        // another worker owns the job now: touch nothing, not even its files
        log.warn('lease lost; leaving the job to its new owner');
      } else if (reason === 'shutdown') {
        await cleanup();
        await settle({
          state: 'queued',
          attempts: Math.max(0, row.attempts - 1),
          run_at: new Date().toISOString(),
          lease_owner: null,
          lease_expires_at: null,
          error: 'interrupted by a worker shutdown',
        });
      } else if (reason === 'cancelled') {
        await giveUp('cancelled', 'cancelled');
      } else if (err instanceof PermanentJobError) {
        await giveUp('failed', message, row.attempts, err);
      } else if (row.attempts < row.max_attempts) {
        const delay = backoffMs(row.attempts, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
        log.warn({ err, retryInMs: delay }, 'job failed; will retry');
        await settle({
          state: 'queued',
          error: message,
          run_at: new Date(Date.now() + delay).toISOString(),
          lease_owner: null,
          lease_expires_at: null,
        });
      } else {
        await giveUp('dead', `${message} (after ${row.attempts} attempt${row.attempts === 1 ? '' : 's'})`);
      }
    } finally {
      clearInterval(timer);
      await hb.beating;
    }
  }
}

/** Sleeps like setTimeout but wakes early when the signal aborts (for handlers that poll). */
export { sleep };
