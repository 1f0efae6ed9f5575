import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/database.js';
import { EventBus } from '../../src/events/event-bus.js';
import { JobsRepository } from '../../src/modules/jobs/jobs.repository.js';
import { JobsService } from '../../src/modules/jobs/jobs.service.js';
import { JobWorker } from '../../src/modules/jobs/job-worker.js';
import { JobEventsRelay } from '../../src/modules/jobs/job-services.js';
import type { LiveEvent } from '@ggnet/contracts';
import type { JobHandler } from '../../src/modules/jobs/job-types.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { until } from '../helpers/images.js';

describeEachDialect('job queue on the real database', (dialect) => {
  let t: TestContext;
  const extra: Database[] = [];
  const workers: JobWorker[] = [];
  beforeEach(async () => {
    t = await createTestContext(dialect, { app: false });
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    for (const d of extra.splice(0)) await d.close();
    await t.close();
  });

  /** A worker with its own connection(s) to the same database, as a separate process would have. */
  const separateWorker = (handlers: JobHandler[], concurrency: number) => {
    const db = createDatabase({ databaseUrl: t.config.databaseUrl, dataDir: t.dataDir });
    extra.push(db);
    const repo = new JobsRepository(db.db, db.dialect);
    const bus = new EventBus();
    const w = new JobWorker(repo, new JobsService(repo, bus), bus, pino({ level: 'silent' }), handlers, {
      pollMs: 5,
      concurrency,
    });
    workers.push(w);
    return w;
  };

  it('two workers racing for 60 jobs never take the same one, and run each exactly once', async () => {
    const runs = new Map<string, string[]>();
    const handler = (name: string): JobHandler => ({
      type: 'race',
      run: async (ctx) => {
        runs.set(ctx.job.id, [...(runs.get(ctx.job.id) ?? []), name]);
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
        return { by: name };
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push((await t.container.jobs.enqueue('race', { i })).job.id);
    const a = separateWorker([handler('a')], 4);
    const b = separateWorker([handler('b')], 4);
    a.start();
    b.start();
    await until(
      async () => {
        const p = await t.container.jobs.list({ limit: 100, offset: 0, type: 'race', state: 'succeeded' });
        return p.total === 60 ? true : undefined;
      },
      60_000,
      'all jobs to succeed',
    );
    for (const id of ids) expect(runs.get(id), id).toHaveLength(1);
    const by = [...runs.values()].map((r) => r[0]);
    expect(by.filter((x) => x === 'a').length).toBeGreaterThan(0);
    expect(by.filter((x) => x === 'b').length).toBeGreaterThan(0);
    const jobs = await t.container.jobs.list({ limit: 100, offset: 0, type: 'race' });
    expect(jobs.items.every((j) => j.attempts === 1 && j.state === 'succeeded')).toBe(true);
  });

  it('a job whose worker vanished is retried by another after its lease expires', async () => {
    const { job } = await t.container.jobs.enqueue('orphan', {}, { maxAttempts: 3 });
    const now = new Date();
    const claimed = await t.container.repos.jobs.claim(
      'vanished:1',
      ['orphan'],
      now.toISOString(),
      new Date(now.getTime() + 300).toISOString(),
    );
    expect(claimed?.id).toBe(job.id);
    // while the lease holds, nobody else takes it
    expect(
      await t.container.repos.jobs.claim('other:1', ['orphan'], now.toISOString(), now.toISOString()),
    ).toBeUndefined();
    const cleaned: string[] = [];
    const w = separateWorker(
      [{ type: 'orphan', run: async () => ({ ok: 1 }), cleanup: async (j) => void cleaned.push(j.id) }],
      1,
    );
    w.start();
    const done = await until(async () => {
      const j = await t.container.jobs.get(job.id);
      return j.state === 'succeeded' ? j : undefined;
    });
    expect(done.attempts).toBe(2);
    expect(cleaned).toEqual([job.id]);
  });

  it('a job claimed while the worker stops is handed back before stop() returns, never run on a closed database', async () => {
    const { job } = await t.container.jobs.enqueue('late', {}, { maxAttempts: 2 });
    const runs: string[] = [];
    const w = separateWorker([{ type: 'late', run: async () => void runs.push('run') }], 1);
    // hold the claim until stop() has been called: the job starts after the stop's abort
    const repo = (w as unknown as { repo: JobsRepository }).repo;
    const claim = repo.claim.bind(repo);
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let claiming: () => void = () => undefined;
    const inClaim = new Promise<void>((r) => (claiming = r));
    repo.claim = async (...args) => {
      claiming();
      await held;
      return claim(...args);
    };
    w.start();
    await inClaim;
    const stopped = w.stop();
    release();
    await stopped;
    expect(w.active).toEqual([]);
    expect(runs).toEqual([]);
    // back in the queue with its attempt given back, for the next worker
    expect(await t.container.jobs.get(job.id)).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it("relays the progress and state of jobs run by another process to this one's event bus", async () => {
    const events: LiveEvent[] = [];
    t.container.bus.subscribe((e) => events.push(e));
    const img = await t.container.images.create({ name: 'relayed' }, null);
    const relay = new JobEventsRelay(
      t.container.repos.jobs,
      t.container.bus,
      t.container.images,
      (o) => o === 'local:1',
    );
    const { job } = await t.container.jobs.enqueue('remote', { imageId: img.id });
    await relay.poll();
    // "another process": claims it and reports progress through the database only
    const now = () => new Date().toISOString();
    const later = () => new Date(Date.now() + 30_000).toISOString();
    await t.container.repos.jobs.claim('remote:1', ['remote'], now(), later());
    await relay.poll();
    await t.container.repos.jobs.heartbeat(job.id, 'remote:1', now(), later(), {
      percent: 40,
      bytesDone: 40,
      bytesTotal: 100,
      bytesPerSec: 10,
      etaSec: 6,
      stage: 'converting',
    });
    await relay.poll();
    await t.container.repos.jobs.settle(job.id, 'remote:1', {
      state: 'succeeded',
      updated_at: now(),
      finished_at: now(),
    });
    await relay.poll();
    const mine = events.filter((e) => e.id === job.id || e.id === img.id).map((e) => e.type);
    expect(mine).toContain('job.progress');
    expect(events.find((e) => e.type === 'job.progress')!.data).toMatchObject({
      progress: { percent: 40, bytesPerSec: 10, etaSec: 6 },
    });
    expect(
      events
        .filter((e) => e.type === 'job.updated' && e.id === job.id)
        .map((e) => (e.data as { state: string }).state),
    ).toEqual(['running', 'succeeded']);
    expect(mine.filter((x) => x === 'image.updated').length).toBeGreaterThanOrEqual(2);
    // jobs of the local worker are not relayed (it publishes them itself)
    const { job: local } = await t.container.jobs.enqueue('local', {});
    await t.container.repos.jobs.claim('local:1', ['local'], now(), later());
    events.length = 0;
    await relay.poll();
    expect(events.filter((e) => e.id === local.id)).toEqual([]);
  });
});
