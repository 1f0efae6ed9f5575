import { createReadStream } from 'node:fs';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext } from '../helpers/test-context.js';
import {
  MiB,
  fillUp,
  isRoot,
  listen,
  loopFs,
  sha256,
  startWorker,
  tempDir,
  toFormat,
  uploadedImage,
  waitImage,
  waitJob,
} from '../helpers/images.js';
import { problem, tusUpload } from '../helpers/uploads.js';
import type { JobWorker } from '../../src/modules/jobs/job-worker.js';

/**
 * Uploads and conversions when the disk fills up: a small ext4 filesystem in a loop file is the data
 * dir (root: mount). The rest of uploads and conversion is in test/integration (no root).
 */
let work: { dir: string; remove: () => Promise<void> };
beforeAll(async () => {
  work = await tempDir();
});
afterAll(async () => work.remove());

(isRoot ? describe : describe.skip)('uploads on a full disk (loop-mounted filesystem; needs root)', () => {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (dialect === 'postgres' && !process.env.GGNET_TEST_PG_URL) continue;
    it(`disk full in the middle of an upload: 507, the bytes are removed, the image says why [${dialect}]`, async () => {
      const fs = await loopFs(64);
      const db = await tempDir();
      const t = await createTestContext(dialect, {
        config: {
          dataDir: fs.mnt,
          ...(dialect === 'sqlite' ? { databaseUrl: `sqlite:${join(db.dir, 'ggnet.db')}` } : {}),
        },
      });
      try {
        await t.container.settings.update({ storage: { reserveBytes: 0 } }, null);
        const url = await listen(t);
        const file = join(work.dir, `${dialect}-40m.img`);
        await writeFile(file, randomBytes(40 * MiB));
        const token = await t.token('operator');
        let uploadUrl: string | null = null;
        await new Promise<void>((resolve, reject) => {
          const up: tus.Upload = new tus.Upload(createReadStream(file), {
            endpoint: `${url}/api/v1/uploads`,
            metadata: { name: 'too big', filename: 'x.img' },
            headers: { authorization: `Bearer ${token}` },
            retryDelays: null,
            onUploadUrlAvailable: () => (uploadUrl = up.url),
            chunkSize: 8 * MiB,
            onChunkComplete: () => void up.abort().then(resolve, reject),
            onError: reject,
          });
          up.start();
        });
        await new Promise((r) => setTimeout(r, 300));
        // someone else fills the disk meanwhile
        const filler = await fillUp(fs.mnt, 4 * MiB);
        const r = await tusUpload(`${url}/api/v1/uploads`, file, {}, token, { uploadUrl });
        expect(r.error?.originalResponse?.getStatus()).toBe(507);
        const p = problem(r);
        expect(p).toMatchObject({ code: 'insufficient_storage' });
        expect(String(p.detail)).toMatch(/disk filled up during the upload/);
        const id = uploadUrl!.split('/').pop()!;
        const img = await t.container.images.get(id);
        expect(img.state).toBe('failed');
        expect(img.error).toMatch(/disk filled up/);
        expect(await readdir(join(fs.mnt, 'uploads', 'tus'))).toEqual([]);
        // a client that retries learns why the upload is gone
        const head = await fetch(uploadUrl!, {
          method: 'HEAD',
          headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' },
        });
        expect(head.status).toBe(410);
        await rm(filler);
      } finally {
        await t.close().catch(() => undefined);
        await fs.unmount();
        await db.remove();
      }
    });
  }
});

(isRoot ? describe : describe.skip)('conversion on a full disk (loop-mounted filesystem; needs root)', () => {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (dialect === 'postgres' && !process.env.GGNET_TEST_PG_URL) continue;
    it(`disk full during the conversion: clear error, no partial RAW, source kept; after freeing space a retry succeeds [${dialect}]`, async () => {
      const fs = await loopFs(160);
      const db = await tempDir();
      const t = await createTestContext(dialect, {
        app: false,
        config: {
          dataDir: fs.mnt,
          ...(dialect === 'sqlite' ? { databaseUrl: `sqlite:${join(db.dir, 'ggnet.db')}` } : {}),
        },
        container: { convertTuning: { windowBytes: 16 * MiB } },
      });
      let worker: JobWorker | null = null;
      try {
        await t.container.settings.update({ storage: { reserveBytes: 0 } }, null);
        // 96 MiB of very compressible data: a tiny compressed QCOW2 that expands when converted
        const raw = join(work.dir, `${dialect}-compressible.raw`);
        const block = Buffer.concat(Array.from({ length: 16384 }, () => randomBytes(4).fill(7, 0, 3)));
        await writeFile(raw, Buffer.concat(Array.from({ length: 96 * 16 }, () => block)));
        const rawSha = await sha256(raw);
        const qcow2 = join(work.dir, `${dialect}-compressible.qcow2`);
        await toFormat(raw, 'qcow2', qcow2, ['-c']);
        expect((await stat(qcow2)).size).toBeLessThan(40 * MiB);
        const { imageId, jobId } = await uploadedImage(t, qcow2, 'c.qcow2', 'expands');
        const filler = await fillUp(fs.mnt, 48 * MiB);
        worker = startWorker(t);
        const job = await waitJob(t, jobId);
        expect(job.state).toBe('failed');
        const img = await t.container.images.get(imageId);
        expect(img.state).toBe('failed');
        expect(img.error).toMatch(/the disk filled up during the conversion: .*No space left on device/);
        expect(await t.container.images.listVersions(imageId)).toEqual([]);
        expect(await readdir(join(fs.mnt, 'images', imageId, 'versions'))).toEqual([]);
        expect(await readdir(join(fs.mnt, 'images', imageId))).toContain('source');

        await rm(filler);
        const retry = await t.container.uploads.retryConversion(imageId, 'tester');
        expect((await waitJob(t, retry.jobId)).state).toBe('succeeded');
        const ready = await waitImage(t, imageId, ['ready']);
        expect(ready.error).toBeNull();
        const [v] = await t.container.images.listVersions(imageId);
        expect(v!.sha256).toBe(rawSha);
      } finally {
        await worker?.stop();
        await t.close().catch(() => undefined);
        await fs.unmount();
        await db.remove();
      }
    });
  }
});
