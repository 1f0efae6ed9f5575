import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  MiB,
  makeRawDisk,
  run,
  sha256,
  startWorker,
  tempDir,
  toFormat,
  until,
  uploadedImage,
  waitJob,
} from '../helpers/images.js';
import type { JobWorker } from '../../src/modules/jobs/job-worker.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/ggnet.js');
const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

let work: { dir: string; remove: () => Promise<void> };
beforeAll(async () => {
  work = await tempDir();
});
afterAll(async () => work.remove());

const pgrep = async (pattern: string) =>
  (await run('pgrep', ['-f', pattern]).catch(() => ({ stdout: '' }))).stdout.trim();

describeEachDialect('conversion worker as a separate process', (dialect) => {
  let t: TestContext;
  let child: ChildProcess | null = null;
  let worker: JobWorker | null = null;
  afterEach(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    child = null;
    await worker?.stop();
    worker = null;
    await t?.close();
  });

  it('kill -9 of `ggnet worker` mid-conversion: qemu-img dies too, the job is retried after the lease, partial output removed, RAW right', async () => {
    if (!existsSync(DIST))
      throw new Error('apps/server is not built: run `npm run build` first (scripts/test.sh does)');
    t = await createTestContext(dialect, { app: false });
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, null);
    const raw = join(work.dir, `${dialect}-2g.raw`);
    await makeRawDisk(raw, 2048 * MiB, 1);
    const rawSha = await sha256(raw);
    const vmdk = join(work.dir, `${dialect}-2g.vmdk`);
    await toFormat(raw, 'vmdk', vmdk);
    await rm(raw);
    const { imageId, jobId } = await uploadedImage(t, vmdk, 'big.vmdk', 'killed');
    await rm(vmdk);

    child = spawn(process.execPath, [CLI, 'worker'], {
      env: {
        ...process.env,
        GGNET_DATA_DIR: t.dataDir,
        ...(t.config.databaseUrl ? { GGNET_DATABASE_URL: t.config.databaseUrl } : {}),
        GGNET_JWT_SECRET: t.config.jwtSecret,
        GGNET_WORKER_LEASE: '3',
        GGNET_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const source = `images/${imageId}/source`;
    // wait until its qemu-img is converting, then kill the worker the hard way
    const qemuPid = await until(
      async () => (await pgrep(`qemu-img convert.*${source}`)) || undefined,
      60_000,
      `qemu-img (worker said: ${stderr})`,
    );
    const partial = (await readdir(join(t.dataDir, 'images', imageId, 'versions'))).find((f) =>
      f.endsWith('.partial'),
    );
    expect(partial).toBeDefined();
    child.kill('SIGKILL');
    await until(async () => (child!.exitCode !== null || child!.signalCode ? true : undefined), 5000);
    // setpriv --pdeathsig: its qemu-img does not write on as an orphan
    await until(
      async () => ((await pgrep(`qemu-img convert.*${source}`)) === '' ? true : undefined),
      5000,
      `qemu-img ${qemuPid} to die`,
    );
    const stuck = await t.container.jobs.get(jobId);
    expect(stuck).toMatchObject({ state: 'running', attempts: 1 });
    expect((await t.container.images.get(imageId)).state).toBe('converting');

    // another worker takes over once the dead one's lease has expired
    worker = startWorker(t);
    const job = await waitJob(t, jobId, 120_000);
    expect(job).toMatchObject({ state: 'succeeded', attempts: 2 });
    const img = await t.container.images.get(imageId);
    expect(img.state).toBe('ready');
    const [v] = await t.container.images.listVersions(imageId);
    expect(v!.sha256).toBe(rawSha);
    // the partial output of the killed attempt is gone; only the verified RAW is there
    expect(await readdir(join(t.dataDir, 'images', imageId, 'versions'))).toEqual([`${v!.id}.raw`]);
    expect(
      await sha256(t.container.imageFiles.inside(t.container.imageFiles.versionRelPath(imageId, v!.id))),
    ).toBe(rawSha);
  }, 240_000);

  it('retention deletes old unprotected, unpublished versions beyond storage.retainVersions, never one in use', async () => {
    t = await createTestContext(dialect, { app: false });
    await t.container.settings.update({ storage: { retainVersions: 2 } }, null);
    const img = await t.container.images.create({ name: 'kept' }, 'tester');
    const v: string[] = [];
    for (let i = 1; i <= 8; i++) {
      const f = join(work.dir, `${dialect}-v${i}.raw`);
      await writeFile(f, randomBytes(4096));
      v.push(
        (
          await t.container.images.addVersionFromFile(img.id, f, {
            comment: `v${i}`,
            author: 'x',
            parentVersionId: null,
          })
        ).id,
      );
    }
    await t.container.images.publishVersion(img.id, v[1]!); // v2 published
    await t.container.images.updateVersion(img.id, v[2]!, { protected: true }); // v3 protected
    const m = await t.container.machines.create({ name: 'pc-1', mac: '52:54:00:12:34:56' });
    await t.container.database.db
      .insertInto('sessions')
      .values({
        id: 'session-1',
        machine_id: m.id,
        image_id: img.id,
        version_id: v[3]!, // v4 in use
        target_id: null,
        writeback_id: null,
        mode: 'normal',
        state: 'active',
        end_reason: null,
        error: null,
        client_ip: null,
        started_at: new Date().toISOString(),
        ready_at: null,
        active_at: null,
        ended_at: null,
        last_activity_at: null,
      })
      .execute();
    const { job } = await t.container.jobs.enqueue('image.retention', {});
    worker = startWorker(t);
    const done = await waitJob(t, job.id);
    expect(done).toMatchObject({ state: 'succeeded', result: { deleted: 3 } });
    const left = (await t.container.images.listVersions(img.id)).map((x) => x.number).sort((a, b) => a - b);
    expect(left).toEqual([2, 3, 4, 7, 8]);
    const files = await readdir(join(t.dataDir, 'images', img.id, 'versions'));
    expect(files.sort()).toEqual([v[1], v[2], v[3], v[6], v[7]].map((id) => `${id}.raw`).sort());
  });
});
