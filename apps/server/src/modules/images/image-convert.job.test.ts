import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/config.schema.js';
import { createContainer, type Container } from '../../container.js';
import { migrateToLatest } from '../../db/database.js';
import { FakeQemuImg } from '../../adapters/qemu-img/qemu-img.fake.js';
import { ProcessError } from '../../adapters/process/process-runner.adapter.js';
import { createJobWorker } from '../jobs/job-services.js';
import type { JobWorker } from '../jobs/job-worker.js';
import { BadInputError, MAX_VIRTUAL_SIZE, vetSource, windows } from './image-convert.job.js';

const MiB = 1024 * 1024;
const info = (p: Parameters<typeof FakeQemuImg.info>[0]) => FakeQemuImg.info(p);

describe('vetSource: what GGnet refuses before converting', () => {
  const ok = { path: '/d/src', filename: 'disk.vhdx', fileSize: 10 * MiB };
  it('accepts a plain image whose name matches its content', () => {
    expect(() => vetSource(info({ format: 'vhdx', virtualSize: 100 * MiB }), ok)).not.toThrow();
    expect(() =>
      vetSource(info({ format: 'raw', virtualSize: MiB }), { ...ok, filename: 'disk.img' }),
    ).not.toThrow();
    expect(() =>
      vetSource(info({ format: 'qcow2', virtualSize: MiB }), { ...ok, filename: null }),
    ).not.toThrow();
  });
  it('refuses an extension naming a format that is not in the file, naming both', () => {
    expect(() => vetSource(info({ format: 'raw', virtualSize: 512 }), ok)).toThrow(
      /named \.vhdx \(VHDX\) but qemu-img detects raw/,
    );
    expect(() => vetSource(info({ format: 'vhdx', virtualSize: MiB }), { ...ok, filename: 'x.VHD' })).toThrow(
      /named \.vhd \(VHD\) but qemu-img detects VHDX/,
    );
  });
  it('refuses formats, backing/data/extent files, encryption, absurd or lying sizes', () => {
    const cases: Array<[Parameters<typeof info>[0], RegExp]> = [
      [{ format: 'qed', virtualSize: MiB }, /does not take/],
      [{ format: 'qcow2', virtualSize: MiB, backingFile: '/etc/shadow' }, /backing file/],
      [{ format: 'qcow2', virtualSize: MiB, dataFile: 'x' }, /external data file/],
      [{ format: 'vmdk', virtualSize: MiB, extents: ['/d/src', '/etc/shadow'] }, /points at other files/],
      [{ format: 'qcow2', virtualSize: MiB, encrypted: true }, /encrypted/],
      [{ format: 'qcow2', virtualSize: 0 }, /virtual size of 0/],
      [{ format: 'qcow2', virtualSize: MAX_VIRTUAL_SIZE + 1 }, /more than 64 TiB/],
    ];
    for (const [i, re] of cases) {
      expect(() => vetSource(info(i), { ...ok, filename: null }), re.source).toThrow(re);
      expect(() => vetSource(info(i), { ...ok, filename: null })).toThrow(BadInputError);
    }
    // 300 MiB of file for a disk said to be 16 MiB: the header lies
    expect(() =>
      vetSource(info({ format: 'vhdx', virtualSize: 16 * MiB }), { ...ok, fileSize: 300 * MiB }),
    ).toThrow(/header says the disk is 16.0 MiB, but the file holds 300 MiB/);
    // ...unless qcow2 snapshots hold the extra data
    expect(() =>
      vetSource(info({ format: 'qcow2', virtualSize: 16 * MiB, snapshots: 2 }), {
        ...ok,
        filename: null,
        fileSize: 300 * MiB,
      }),
    ).not.toThrow();
  });
});

describe('conversion windows', () => {
  it('splits the disk into aligned windows, at most 256', () => {
    expect(windows(10 * MiB, 4 * MiB)).toEqual([
      { offset: 0, length: 4 * MiB },
      { offset: 4 * MiB, length: 4 * MiB },
      { offset: 8 * MiB, length: 2 * MiB },
    ]);
    expect(windows(512, 1024 * MiB)).toEqual([{ offset: 0, length: 512 }]);
    const many = windows(1024 ** 4, 1024 * MiB);
    expect(many).toHaveLength(255 + 4);
    expect(many.reduce((a, w) => a + w.length, 0)).toBe(1024 ** 4);
    // a big last window is cut in four: little hashing left when the conversion ends
    expect(windows(2560 * MiB, 1024 * MiB).map((w) => w.length / MiB)).toEqual([
      1024, 1024, 128, 128, 128, 128,
    ]);
    expect(windows(2048 * MiB, 1024 * MiB).map((w) => w.length / MiB)).toEqual([1024, 256, 256, 256, 256]);
    for (const w of [many, windows(3 * 1024 * MiB + 12345 * 512, 1024 * MiB)]) {
      w.forEach((x, i) => i && expect(x.offset).toBe(w[i - 1]!.offset + w[i - 1]!.length));
    }
  });
});

describe('image.convert job with a fake qemu-img', () => {
  let dir: string;
  let c: Container;
  let qemu: FakeQemuImg;
  let worker: JobWorker;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ggnet-unit-'));
    qemu = new FakeQemuImg();
    c = createContainer(ConfigSchema.parse({ dataDir: dir, databaseUrl: 'sqlite::memory:' }), {
      log: pino({ level: 'silent' }),
      qemuImg: qemu,
      convertTuning: { windowBytes: MiB },
    });
    await migrateToLatest(c.database);
    await c.settings.update({ storage: { reserveBytes: 0 } }, null);
    worker = createJobWorker(c, { pollMs: 10, schedules: [] });
  });
  afterEach(async () => {
    await worker.stop();
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An uploaded image whose source file exists; returns ids. */
  const uploaded = async (filename: string, bytes = 64) => {
    const img = await c.images.create({ name: `img-${Math.random().toString(36).slice(2, 8)}` }, 'tester', {
      source_filename: filename,
    });
    const staging = join(dir, `staging-${img.id}`);
    await mkdir(dir, { recursive: true });
    await writeFile(staging, randomBytes(bytes));
    const r = await c.uploads.complete(img.id, staging, { size: bytes, sha256: 'x'.repeat(64) });
    if (r.kind !== 'image') throw new Error('expected an image upload');
    return {
      imageId: img.id,
      jobId: r.jobId,
      source: c.imageFiles.inside(c.imageFiles.sourceRelPath(img.id)),
    };
  };
  const finished = async (jobId: string) => {
    for (;;) {
      const j = await c.jobs.get(jobId);
      if (!['queued', 'running'].includes(j.state)) return j;
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('converts window by window, hashes the RAW, publishes v1 and removes the source', async () => {
    const { imageId, jobId, source } = await uploaded('disk.qcow2');
    qemu.content = randomBytes(3 * MiB + 512);
    qemu.infos.set(source, info({ format: 'qcow2', virtualSize: qemu.content.length, actualSize: MiB }));
    worker.start();
    const job = await finished(jobId);
    expect(job.state).toBe('succeeded');
    expect(qemu.calls).toEqual([
      `info ${source}`,
      `check qcow2 ${source}`,
      `convert qcow2 0+${MiB}`,
      `convert qcow2 ${MiB}+${MiB}`,
      `convert qcow2 ${2 * MiB}+${MiB}`,
      `convert qcow2 ${3 * MiB}+512`,
    ]);
    const img = await c.images.get(imageId);
    expect(img).toMatchObject({ state: 'ready', sourceFormat: 'qcow2', error: null });
    const [v] = await c.images.listVersions(imageId);
    expect(v).toMatchObject({ number: 1, state: 'ready', published: true, sizeBytes: qemu.content.length });
    const raw = await readFile(c.imageFiles.inside(c.imageFiles.versionRelPath(imageId, v!.id)));
    expect(raw.equals(qemu.content)).toBe(true);
    expect(v!.sha256).toBe(createHash('sha256').update(qemu.content).digest('hex'));
    expect(job.result).toMatchObject({ sha256: v!.sha256, published: true });
    expect(await readdir(c.imageFiles.imageDir(imageId))).toEqual(['versions']);
  });

  it('bad input: the job fails at once, the version goes, the source is deleted', async () => {
    const { imageId, jobId, source } = await uploaded('notes.vhdx');
    qemu.infos.set(source, info({ format: 'raw', virtualSize: 512 }));
    worker.start();
    expect(await finished(jobId)).toMatchObject({ state: 'failed', attempts: 1 });
    const img = await c.images.get(imageId);
    expect(img.state).toBe('failed');
    expect(img.error).toMatch(/named \.vhdx/);
    expect(await c.images.listVersions(imageId)).toEqual([]);
    expect(await readdir(c.imageFiles.imageDir(imageId)).catch(() => [])).not.toContain('source');
  });

  it('disk full during the conversion: clear error, partial RAW removed, source kept for a retry', async () => {
    const { imageId, jobId, source } = await uploaded('disk.vmdk');
    qemu.content = randomBytes(2 * MiB);
    qemu.infos.set(source, info({ format: 'vmdk', virtualSize: qemu.content.length, extents: [source] }));
    qemu.beforeConvert = (o) => {
      if (o.window && o.window.offset > 0) {
        throw new ProcessError(
          'qemu-img',
          [],
          'exit',
          1,
          'qemu-img: error while writing at byte 1048576: No space left on device\n',
          '',
        );
      }
    };
    worker.start();
    expect(await finished(jobId)).toMatchObject({ state: 'failed' });
    const img = await c.images.get(imageId);
    expect(img.state).toBe('failed');
    expect(img.error).toMatch(/the disk filled up during the conversion: .*No space left on device/);
    expect(await readdir(join(c.imageFiles.imageDir(imageId), 'versions'))).toEqual([]);
    expect(await readdir(c.imageFiles.imageDir(imageId))).toContain('source');
    // space freed: convert again from the kept source
    qemu.beforeConvert = undefined;
    const retry = await c.uploads.retryConversion(imageId, 'tester');
    expect((await finished(retry.jobId)).state).toBe('succeeded');
    expect((await c.images.get(imageId)).state).toBe('ready');
  });
});
