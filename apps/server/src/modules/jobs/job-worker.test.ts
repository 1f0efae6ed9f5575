import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LiveEvent } from '@ggnet/contracts';
import { ConfigSchema } from '../../config/config.schema.js';
import { createContainer, type Container } from '../../container.js';
import { migrateToLatest } from '../../db/database.js';
import { backoffMs, JobWorker, type JobWorkerOptions } from './job-worker.js';
import { PermanentJobError, type JobContext, type JobHandler } from './job-types.js';

/** The queue on an in-memory SQLite database with handlers that record what happens to them. */
class Recorder implements JobHandler {
  readonly runs: Array<{ id: string; attempt: number }> = [];
  readonly cleanups: string[] = [];
  readonly gaveUp: Array<{ id: string; outcome: string; error: string }> = [];
  constructor(
    readonly type: string,
    private readonly body: (ctx: JobContext) => Promise<Record<string, unknown> | void>,
  ) {}
  run(ctx: JobContext) {
    this.runs.push({ id: ctx.job.id, attempt: ctx.attempt });
    return this.body(ctx);
  }
  async cleanup(job: { id: string }) {
    this.cleanups.push(job.id);
  }
  async onGiveUp(job: { id: string }, outcome: string, error: string) {
    this.gaveUp.push({ id: job.id, outcome, error });
  }
}

const waitFor = async <T>(fn: () => Promise<T | undefined>, ms = 5000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('job queue and worker (SQLite in memory)', () => {
  let dir: string;
  let c: Container;
  const workers: JobWorker[] = [];
  const worker = (handlers: JobHandler[], opts: JobWorkerOptions = {}) => {
    const w = new JobWorker(c.repos.jobs, c.jobs, c.bus, c.log, handlers, {
      pollMs: 20,
      backoffBaseMs: 10,
      backoffMaxMs: 40,
      progressEventMs: 0,
      ...opts,
    });
    workers.push(w);
    w.start();
    return w;
  };
  const settled = (id: string) =>
    waitFor(async () => {
      const j = await c.jobs.get(id);
      return ['queued', 'running'].includes(j.state) ? undefined : j;
    });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ggnet-unit-'));
    c = createContainer(ConfigSchema.parse({ dataDir: dir, databaseUrl: 'sqlite::memory:' }), {
      log: pino({ level: 'silent' }),
    });
    await migrateToLatest(c.database);
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a job once and stores its result; progress events carry percent, bytes/s and ETA', async () => {
    const events: LiveEvent[] = [];
    c.bus.subscribe((e) => events.push(e));
    const h = new Recorder('t.ok', async (ctx) => {
      for (let i = 0; i <= 4; i++) {
        ctx.progress({ bytesDone: i * 250, bytesTotal: 1000, stage: 'copying' });
        await new Promise((r) => setTimeout(r, 150));
      }
      return { answer: 42 };
    });
    const { job } = await c.jobs.enqueue('t.ok', { n: 1 });
    worker([h]);
    const done = await settled(job.id);
    expect(done).toMatchObject({ state: 'succeeded', attempts: 1, result: { answer: 42 }, error: null });
    expect(done.progress).toMatchObject({ percent: 100, etaSec: 0 });
    expect(h.runs).toEqual([{ id: job.id, attempt: 1 }]);
    const progress = events
      .filter((e) => e.type === 'job.progress')
      .map((e) => (e.data as { progress: unknown }).progress);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)).toMatchObject({ percent: 100, bytesTotal: 1000, stage: 'copying' });
    expect(progress.some((p) => (p as { bytesPerSec: number | null }).bytesPerSec! > 0)).toBe(true);
    expect(
      events.some((e) => e.type === 'job.updated' && (e.data as { state: string }).state === 'succeeded'),
    ).toBe(true);
  });

  it('retries a failing job with backoff, cleaning up before each attempt, then succeeds', async () => {
    let n = 0;
    const h = new Recorder('t.flaky', async () => {
      if (++n < 3) throw new Error(`transient ${n}`);
    });
    const { job } = await c.jobs.enqueue('t.flaky', {}, { maxAttempts: 3 });
    worker([h]);
    const done = await settled(job.id);
    expect(done).toMatchObject({ state: 'succeeded', attempts: 3 });
    expect(h.runs.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(h.cleanups).toHaveLength(3);
    expect(h.gaveUp).toEqual([]);
  });

  it('declares a job dead after its last attempt (cleanup + give-up hook), and fails bad input at once', async () => {
    const dead = new Recorder('t.dead', async () => {
      throw new Error('disk on fire');
    });
    const bad = new Recorder('t.bad', async () => {
      throw new PermanentJobError('not an image');
    });
    const a = await c.jobs.enqueue('t.dead', {}, { maxAttempts: 2 });
    const b = await c.jobs.enqueue('t.bad', {}, { maxAttempts: 5 });
    worker([dead, bad]);
    expect(await settled(a.job.id)).toMatchObject({
      state: 'dead',
      attempts: 2,
      error: 'disk on fire (after 2 attempts)',
    });
    expect(await settled(b.job.id)).toMatchObject({ state: 'failed', attempts: 1, error: 'not an image' });
    expect(dead.gaveUp).toEqual([
      { id: a.job.id, outcome: 'dead', error: 'disk on fire (after 2 attempts)' },
    ]);
    expect(bad.gaveUp).toEqual([{ id: b.job.id, outcome: 'failed', error: 'not an image' }]);
  });

  it('cancels a running job through its AbortSignal (seen on the heartbeat), then cleans up', async () => {
    let aborted = false;
    const h = new Recorder('t.long', async (ctx) => {
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      aborted = true;
      throw new Error('child killed');
    });
    const { job } = await c.jobs.enqueue('t.long', {});
    worker([h], { heartbeatMs: 30 });
    await waitFor(async () => ((await c.jobs.get(job.id)).state === 'running' ? true : undefined));
    await c.jobs.cancel(job.id);
    expect(await settled(job.id)).toMatchObject({ state: 'cancelled', error: 'cancelled' });
    expect(aborted).toBe(true);
    expect(h.gaveUp).toEqual([{ id: job.id, outcome: 'cancelled', error: 'cancelled' }]);
    expect(h.cleanups.length).toBeGreaterThanOrEqual(2); // before the attempt and when giving up
  });

  it('finishes a cancelled queued job through a worker (cleanup + hook) without running it', async () => {
    const h = new Recorder('t.never', async () => undefined);
    const { job } = await c.jobs.enqueue('t.never', {});
    expect((await c.jobs.cancel(job.id)).cancelRequested).toBe(true);
    worker([h]);
    expect(await settled(job.id)).toMatchObject({ state: 'cancelled' });
    expect(h.runs).toEqual([]);
    expect(h.gaveUp[0]).toMatchObject({ outcome: 'cancelled' });
  });

  it('takes back a job whose worker stopped heartbeating (lease expired) and runs it again', async () => {
    const h = new Recorder('t.lease', async () => ({ ok: true }));
    const { job } = await c.jobs.enqueue('t.lease', {}, { maxAttempts: 3 });
    // a worker claims it and dies: no heartbeat ever
    const now = new Date();
    const claimed = await c.repos.jobs.claim(
      'ghost:1',
      ['t.lease'],
      now.toISOString(),
      new Date(now.getTime() + 100).toISOString(),
    );
    expect(claimed?.id).toBe(job.id);
    worker([h]);
    const done = await settled(job.id);
    expect(done).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(h.runs).toEqual([{ id: job.id, attempt: 2 }]);
  });

  it('cleans up after a worker that died on the last attempt and declares the job dead', async () => {
    const h = new Recorder('t.lastgasp', async () => ({ ok: true }));
    const { job } = await c.jobs.enqueue('t.lastgasp', {}, { maxAttempts: 1 });
    const now = new Date();
    await c.repos.jobs.claim(
      'ghost:2',
      ['t.lastgasp'],
      now.toISOString(),
      new Date(now.getTime() + 50).toISOString(),
    );
    worker([h]);
    const done = await settled(job.id);
    expect(done.state).toBe('dead');
    expect(done.attempts).toBe(1);
    expect(done.error).toMatch(/worker ghost:2 stopped responding \(lease expired\) \(after 1 attempt\)/);
    expect(h.runs).toEqual([]);
    expect(h.cleanups).toEqual([job.id]);
    expect(h.gaveUp[0]).toMatchObject({ outcome: 'dead' });
  });

  it('a worker that lost its lease stops and touches nothing', async () => {
    let signalReason: unknown = null;
    const h = new Recorder('t.stolen', async (ctx) => {
      await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
      signalReason = ctx.signal.reason;
      throw new Error('stopped');
    });
    const { job } = await c.jobs.enqueue('t.stolen', {});
    const w = worker([h], { heartbeatMs: 20 });
    await waitFor(async () => ((await c.jobs.get(job.id)).state === 'running' ? true : undefined));
    // someone else took it over (as after an expired lease)
    await c.repos.jobs.update(job.id, { lease_owner: 'other:1' });
    await waitFor(async () => (w.active.length === 0 ? true : undefined));
    expect(signalReason).toBe('lease_lost');
    const j = await c.repos.jobs.findById(job.id);
    expect(j).toMatchObject({ state: 'running', lease_owner: 'other:1' });
    expect(h.cleanups).toHaveLength(1); // only the one before its attempt
    expect(h.gaveUp).toEqual([]);
  });

  it('puts running jobs back in the queue on shutdown, without counting the attempt', async () => {
    const h = new Recorder('t.shutdown', async (ctx) => {
      await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
      throw new Error('stopped');
    });
    const { job } = await c.jobs.enqueue('t.shutdown', {});
    const w = worker([h]);
    await waitFor(async () => ((await c.jobs.get(job.id)).state === 'running' ? true : undefined));
    await w.stop();
    expect(await c.jobs.get(job.id)).toMatchObject({
      state: 'queued',
      attempts: 0,
      error: 'interrupted by a worker shutdown',
    });
  });

  it('dedupe keys: one active job per key; schedules never double up', async () => {
    const a = await c.jobs.enqueue('t.x', {}, { dedupeKey: 'k' });
    const b = await c.jobs.enqueue('t.x', {}, { dedupeKey: 'k' });
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, job: { id: a.job.id } });
    const h = new Recorder('t.sched', async () => undefined);
    worker([h], { schedules: [{ type: 't.sched', everyMs: 60_000 }] });
    worker([h], { schedules: [{ type: 't.sched', everyMs: 60_000 }] });
    await waitFor(async () => (h.runs.length >= 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 100));
    const all = await c.jobs.list({ limit: 50, offset: 0, type: 't.sched' });
    expect(all.total).toBeLessThanOrEqual(2);
    expect(h.runs.length).toBe(all.total);
  });

  it('backoff doubles per attempt with jitter and a cap', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0.5)).toBe(1000);
    expect(backoffMs(3, 1000, 60_000, () => 0.5)).toBe(4000);
    expect(backoffMs(20, 1000, 60_000, () => 0.5)).toBe(60_000);
    expect(backoffMs(1, 1000, 60_000, () => 0)).toBe(800);
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1200);
  });
});
