import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  MiB,
  listen,
  makeRawDisk,
  patchVhdxSize,
  put,
  run,
  sameDisk,
  sha256,
  startWorker,
  tempDir,
  toFormat,
  waitImage,
  waitJob,
} from '../helpers/images.js';
import type { JobWorker } from '../../src/modules/jobs/job-worker.js';

let work: { dir: string; remove: () => Promise<void> };
let raw: string;
const RAW_SIZE = 48 * MiB;

beforeAll(async () => {
  work = await tempDir();
  raw = join(work.dir, 'disk.raw');
  await makeRawDisk(raw, RAW_SIZE, 0.6);
});
afterAll(async () => work.remove());

describeEachDialect('image conversion (real qemu-img)', (dialect) => {
  let t: TestContext;
  let url: string;
  let worker: JobWorker | null = null;
  beforeEach(async () => {
    // small windows so that a 48 MiB disk is converted and hashed in several pieces
    t = await createTestContext(dialect, { container: { convertTuning: { windowBytes: 8 * MiB } } });
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, null);
    url = await listen(t);
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    await t.close();
  });

  /** POST /images, then PUT the file as curl -T would, over the real socket. */
  const putUpload = async (file: string, name: string, query: Record<string, string> = {}) => {
    const headers = { ...(await t.auth('operator')), 'content-type': 'application/json' };
    const created = await fetch(`${url}/api/v1/images`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name, osType: 'linux' }),
    });
    expect(created.status).toBe(201);
    const img = (await created.json()) as { id: string };
    const qs = new URLSearchParams(query).toString();
    const res = await fetch(`${url}/api/v1/images/${img.id}/content${qs ? `?${qs}` : ''}`, {
      method: 'PUT',
      headers: {
        ...(await t.auth('operator')),
        'content-type': 'application/octet-stream',
        'content-length': String((await stat(file)).size),
      },
      body: createReadStream(file),
      duplex: 'half',
    });
    return { id: img.id, res, body: (await res.json()) as Record<string, unknown> };
  };

  for (const [format, ext] of [
    ['vhdx', 'vhdx'],
    ['vmdk', 'vmdk'],
    ['qcow2', 'qcow2'],
    ['vdi', 'vdi'],
    ['vpc', 'vhd'],
  ] as const) {
    it(`converts a ${ext.toUpperCase()} to a RAW identical to the original, byte for byte`, async () => {
      const src = join(work.dir, `${t.dialect}-disk.${ext}`);
      await toFormat(raw, format, src);
      const { id, res, body } = await putUpload(src, `img-${ext}`, {
        filename: `disk.${ext}`,
        sha256: await sha256(src),
      });
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.state).toBe('uploaded');
      expect(body.sourceSha256).toBe(await sha256(src));
      worker = startWorker(t);
      const img = await waitImage(t, id, ['ready', 'failed']);
      expect(img.error).toBeNull();
      expect(img.state).toBe('ready');
      expect(img.sourceFormat).toBe(format);
      const versions = await t.container.images.listVersions(id);
      expect(versions).toHaveLength(1);
      const v = versions[0]!;
      expect(v).toMatchObject({ number: 1, state: 'ready', published: true });
      const rawPath = t.container.imageFiles.inside(t.container.imageFiles.versionRelPath(id, v.id));
      expect(await sameDisk(raw, rawPath)).toBe(true);
      expect(v.sha256).toBe(await sha256(rawPath));
      // sparse: the holes of the disk stay holes
      expect((await stat(rawPath)).blocks * 512).toBeLessThan(RAW_SIZE);
      // the source is deleted once the RAW is verified (storage.keepSource=false)
      const files = await readdir(t.container.imageFiles.imageDir(id));
      expect(files).toEqual(['versions']);
      expect(await readdir(join(t.container.imageFiles.imageDir(id), 'versions'))).toEqual([`${v.id}.raw`]);
    });
  }

  it('keeps the source when storage.keepSource is set', async () => {
    await t.container.settings.update({ storage: { keepSource: true } }, null);
    const src = join(work.dir, `${t.dialect}-keep.qcow2`);
    await toFormat(raw, 'qcow2', src);
    const { id } = await putUpload(src, 'keep-source', { filename: 'keep.qcow2' });
    worker = startWorker(t);
    const img = await waitImage(t, id, ['ready', 'failed']);
    expect(img.state).toBe('ready');
    expect(await sha256(t.container.imageFiles.inside(t.container.imageFiles.sourceRelPath(id)))).toBe(
      await sha256(src),
    );
  });

  it('refuses a text file renamed .vhdx, naming both formats, and deletes it', async () => {
    const src = await put(
      work.dir,
      `${t.dialect}-notes.vhdx`,
      'these are my notes, not a disk\n'.repeat(100),
    );
    const { id } = await putUpload(src, 'text-as-vhdx', { filename: 'notes.vhdx' });
    worker = startWorker(t);
    const img = await waitImage(t, id, ['ready', 'failed']);
    expect(img.state).toBe('failed');
    expect(img.error).toMatch(/named \.vhdx \(VHDX\) but qemu-img detects raw/);
    expect(await t.container.images.listVersions(id)).toHaveLength(0);
    expect(await readdir(t.container.imageFiles.imageDir(id)).catch(() => [])).not.toContain('source');
    const jobs = await t.container.jobs.list({ limit: 10, offset: 0, type: 'image.convert' });
    expect(jobs.items[0]).toMatchObject({ state: 'failed', attempts: 1 });
  });

  it("refuses a truncated VHDX with qemu-img's message", async () => {
    const full = join(work.dir, `${t.dialect}-full.vhdx`);
    await toFormat(raw, 'vhdx', full);
    const truncated = join(work.dir, `${t.dialect}-truncated.vhdx`);
    await run('head', ['-c', String(20 * MiB), full], { encoding: 'buffer', maxBuffer: 64 * MiB }).then(
      ({ stdout }) => put(work.dir, `${t.dialect}-truncated.vhdx`, stdout as unknown as Buffer),
    );
    const { id } = await putUpload(truncated, 'truncated', { filename: 'disk.vhdx' });
    worker = startWorker(t);
    const img = await waitImage(t, id, ['ready', 'failed']);
    expect(img.state).toBe('failed');
    expect(img.error).toMatch(/qemu-img cannot read the file: .*(truncated|Could not open)/);
    expect(await t.container.images.listVersions(id)).toHaveLength(0);
  });

  it('refuses VHDX headers that lie about the size (too big: qemu-img refuses; too small: GGnet refuses)', async () => {
    const big = join(work.dir, `${t.dialect}-big.vhdx`);
    await toFormat(raw, 'vhdx', big);
    expect(await patchVhdxSize(big, 1024 ** 4)).toBe(RAW_SIZE);
    const small = join(work.dir, `${t.dialect}-small.vhdx`);
    await toFormat(raw, 'vhdx', small);
    await patchVhdxSize(small, 4 * MiB);
    // a bigger disk with most of it allocated, so that the lie is well beyond the metadata overhead
    const bigRaw = join(work.dir, `${t.dialect}-dense.raw`);
    await makeRawDisk(bigRaw, 160 * MiB, 1);
    const dense = join(work.dir, `${t.dialect}-dense.vhdx`);
    await toFormat(bigRaw, 'vhdx', dense);
    await patchVhdxSize(dense, 8 * MiB);

    const a = await putUpload(big, 'lies-big', { filename: 'big.vhdx' });
    const b = await putUpload(dense, 'lies-small', { filename: 'dense.vhdx' });
    worker = startWorker(t);
    const imgA = await waitImage(t, a.id, ['ready', 'failed']);
    expect(imgA.state).toBe('failed');
    expect(imgA.error).toMatch(/qemu-img cannot read the file/);
    const imgB = await waitImage(t, b.id, ['ready', 'failed']);
    expect(imgB.state).toBe('failed');
    expect(imgB.error).toMatch(/header says the disk is 8\.0 MiB, but the file holds 1\d\d MiB/);
    for (const id of [a.id, b.id]) expect(await t.container.images.listVersions(id)).toHaveLength(0);
  });

  it('refuses a QCOW2 with a backing file', async () => {
    const backing = join(work.dir, `${t.dialect}-backing.raw`);
    await makeRawDisk(backing, 8 * MiB);
    const overlay = join(work.dir, `${t.dialect}-overlay.qcow2`);
    await run('qemu-img', ['create', '-f', 'qcow2', '-b', backing, '-F', 'raw', overlay]);
    const { id } = await putUpload(overlay, 'with-backing', { filename: 'overlay.qcow2' });
    worker = startWorker(t);
    const img = await waitImage(t, id, ['ready', 'failed']);
    expect(img.state).toBe('failed');
    expect(img.error).toMatch(/has a backing file .*refused/);
    expect(await t.container.images.listVersions(id)).toHaveLength(0);
  });

  it('refuses a wrong expected sha256 on a streaming upload and removes the bytes', async () => {
    const src = join(work.dir, `${t.dialect}-sum.qcow2`);
    await toFormat(raw, 'qcow2', src);
    const { id, res, body } = await putUpload(src, 'bad-sum', {
      filename: 'x.qcow2',
      sha256: 'ab'.repeat(32),
    });
    expect(res.status).toBe(422);
    expect(body).toMatchObject({ code: 'checksum_mismatch' });
    expect(String(body.detail)).toContain('abab');
    expect(String(body.hint)).toBeTruthy();
    const img = await t.container.images.get(id);
    expect(img.state).toBe('failed');
    expect(await readdir(t.container.imageFiles.uploadsDir)).toEqual(
      expect.not.arrayContaining([`put-${id}.part`]),
    );
    expect(await readdir(t.container.imageFiles.imageDir(id)).catch(() => [])).toEqual([]);
  });

  it('deletes an image while it converts: the job is cancelled, qemu-img stopped, nothing left', async () => {
    const bigRaw = join(work.dir, `${t.dialect}-slow.raw`);
    await makeRawDisk(bigRaw, 512 * MiB, 1);
    const src = join(work.dir, `${t.dialect}-slow.vmdk`);
    await toFormat(bigRaw, 'vmdk', src);
    await t.container.settings.update({ storage: { keepSource: false } }, null);
    const { id } = await putUpload(src, 'delete-me', { filename: 'slow.vmdk' });
    worker = startWorker(t, { heartbeatMs: 100, progressWriteMs: 100 });
    await waitImage(t, id, ['converting'], 30_000);
    const res = await fetch(`${url}/api/v1/images/${id}`, {
      method: 'DELETE',
      headers: await t.auth('operator'),
    });
    expect(res.status).toBe(204);
    const jobs = await t.container.jobs.list({ limit: 10, offset: 0, type: 'image.convert' });
    const job = await waitJob(t, jobs.items[0]!.id);
    // cancelled mid-conversion, or it had just finished: either way the image and its files are gone
    expect(job.state).toBe('cancelled');
    await expect(t.container.images.get(id)).rejects.toMatchObject({ statusCode: 404 });
    await expect(stat(t.container.imageFiles.imageDir(id))).rejects.toMatchObject({ code: 'ENOENT' });
    const { stdout } = await run('pgrep', ['-f', `qemu-img convert.*${id}`]).catch(() => ({ stdout: '' }));
    expect(stdout.trim()).toBe('');
  });
});
