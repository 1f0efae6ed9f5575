import { createReadStream } from 'node:fs';
import { readdir, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import * as tus from 'tus-js-client';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { problem, tusUpload } from '../helpers/uploads.js';
import {
  MiB,
  cuttingProxy,
  listen,
  makeRawDisk,
  put,
  sha256,
  startWorker,
  tempDir,
  toFormat,
  until,
  waitImage,
  waitJob,
} from '../helpers/images.js';
import type { JobWorker } from '../../src/modules/jobs/job-worker.js';

let work: { dir: string; remove: () => Promise<void> };
let raw: string;
let big: string;
let bigSha: string;

beforeAll(async () => {
  work = await tempDir();
  raw = join(work.dir, 'disk.raw');
  await makeRawDisk(raw, 16 * MiB, 0.7);
  big = join(work.dir, 'big.img');
  await writeFile(big, randomBytes(96 * MiB));
  bigSha = await sha256(big);
});
afterAll(async () => work.remove());

const sha256Of = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const idOf = (u: tus.Upload) => u.url!.split('/').pop()!;

describeEachDialect('uploads (tus-js-client over a real socket)', (dialect) => {
  let t: TestContext;
  let url: string;
  let endpoint: string;
  let worker: JobWorker | null = null;
  beforeEach(async () => {
    t = await createTestContext(dialect);
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, null);
    url = await listen(t);
    endpoint = `${url}/api/v1/uploads`;
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    await t.close();
  });

  /** tus creation by hand (POST with Upload-Length and metadata); returns the upload's URL. */
  const createUpload = async (auth: Record<string, string>, name: string, length: number) => {
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    const created = await fetch(endpoint, {
      method: 'POST',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'upload-length': String(length),
        'upload-metadata': `name ${b64(name)},filename ${b64(`${name}.img`)}`,
      },
    });
    expect(created.status).toBe(201);
    return new URL(created.headers.get('location')!, url).toString();
  };

  it('uploads a VHDX with its sha256, stores it atomically, converts it to a ready v1', async () => {
    const vhdx = join(work.dir, `${dialect}-up.vhdx`);
    await toFormat(raw, 'vhdx', vhdx);
    const sum = await sha256(vhdx);
    const r = await tusUpload(
      endpoint,
      vhdx,
      { name: 'Win 11 (tus)', filename: 'win11.vhdx', sha256: sum, osType: 'windows' },
      await t.token('operator'),
    );
    expect(r.error).toBeNull();
    const id = idOf(r.upload);
    expect(r.headers).toMatchObject({ 'GGnet-Image-Id': id, 'GGnet-Sha256': sum });
    const img = await t.container.images.get(id);
    expect(img).toMatchObject({
      name: 'Win 11 (tus)',
      state: 'uploaded',
      sourceFilename: 'win11.vhdx',
      sourceSha256: sum,
      sourceSize: (await stat(vhdx)).size,
      createdBy: 'test-operator',
    });
    // staging is gone: nothing of the upload remains outside images/<id>/source
    expect(await readdir(join(t.dataDir, 'uploads', 'tus'))).toEqual([]);
    expect(await sha256(t.container.imageFiles.inside(t.container.imageFiles.sourceRelPath(id)))).toBe(sum);
    worker = startWorker(t);
    const job = await waitJob(t, r.headers['GGnet-Job-Id']!);
    expect(job.state).toBe('succeeded');
    expect((await t.container.images.get(id)).state).toBe('ready');
  });

  it('cut off 5 times at random offsets, resumed by the client each time: the sha256 is still right, with no re-read', async () => {
    const size = (await stat(big)).size;
    // five connection drops at random points of the transfer (cumulative bytes sent)
    const cuts = [0, 1, 2, 3, 4].map((i) => Math.floor(size * (0.05 + 0.18 * i + Math.random() * 0.15)));
    const proxy = await cuttingProxy(url, cuts);
    try {
      const r = await tusUpload(
        `${proxy.url}/api/v1/uploads`,
        big,
        { name: 'resumed', filename: 'big.img', sha256: bigSha },
        await t.token('operator'),
        // like the CLI: resume at once after a dropped connection
        { retryDelays: [0, 100, 200, 400, 800, 1000, 1000, 1000] },
      );
      expect(r.error).toBeNull();
      expect(proxy.cuts()).toBe(5);
      expect(r.headers['GGnet-Sha256']).toBe(bigSha);
      // each resume continued the running hash: not one byte was read back from disk
      expect(t.container.tusStore.rehashedBytes).toBe(0);
      const img = await t.container.images.get(idOf(r.upload));
      expect(img).toMatchObject({ state: 'uploaded', sourceSha256: bigSha, sourceSize: size });
      expect(await sha256(t.container.imageFiles.inside(t.container.imageFiles.sourceRelPath(img.id)))).toBe(
        bigSha,
      );
    } finally {
      await proxy.close();
    }
  });

  it('after a server restart (running hash lost) hashes the received bytes once, and still gets it right', async () => {
    const size = (await stat(big)).size;
    // the connection drops at 40 %, and the server "restarts" (forgets its running hashes) meanwhile
    const proxy = await cuttingProxy(url, [Math.floor(size * 0.4)], () =>
      t.container.tusStore.forgetRunningHashes(),
    );
    try {
      const r = await tusUpload(
        `${proxy.url}/api/v1/uploads`,
        big,
        { name: 'restarted', filename: 'big.img' },
        await t.token('operator'),
        { retryDelays: [300, 300, 300] },
      );
      expect(r.error).toBeNull();
      expect(proxy.cuts()).toBe(1);
      expect(t.container.tusStore.rehashedBytes).toBeGreaterThan(0);
      expect(t.container.tusStore.rehashedBytes).toBeLessThan(size);
      expect((await t.container.images.get(idOf(r.upload))).sourceSha256).toBe(bigSha);
    } finally {
      await proxy.close();
    }
  });

  it('rejects a wrong expected sha256 with a clear error and removes the bytes', async () => {
    const r = await tusUpload(
      endpoint,
      raw,
      { name: 'bad sum', filename: 'disk.img', sha256: '0'.repeat(64) },
      await t.token('operator'),
    );
    expect(r.error).not.toBeNull();
    expect(r.error!.originalResponse!.getStatus()).toBe(422);
    expect(r.error!.originalResponse!.getHeader('content-type')).toContain('application/problem+json');
    const p = problem(r);
    expect(p).toMatchObject({ code: 'checksum_mismatch', status: 422 });
    expect(String(p.detail)).toContain(`but ${'0'.repeat(64)} was expected`);
    expect(p.hint).toBeTruthy();
    const id = idOf(r.upload);
    expect((await t.container.images.get(id)).state).toBe('failed');
    expect(await readdir(join(t.dataDir, 'uploads', 'tus'))).toEqual([]);
    await expect(stat(t.container.imageFiles.imageDir(id))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('two uploads with the same name: the second gets 409 image_name_taken; a failed one is replaced', async () => {
    const token = await t.token('operator');
    const first = await tusUpload(endpoint, raw, { name: 'twins', filename: 'a.img' }, token);
    expect(first.error).toBeNull();
    const second = await tusUpload(endpoint, raw, { name: 'twins', filename: 'b.img' }, token);
    expect(second.error?.originalResponse?.getStatus()).toBe(409);
    expect(problem(second)).toMatchObject({ code: 'image_name_taken' });
    expect(String(problem(second).detail)).toContain('"twins" already exists');
    // an upload that failed (bad checksum) does not hold its name: trying again just works
    const bad = await tusUpload(
      endpoint,
      raw,
      { name: 'retry me', filename: 'a.img', sha256: 'f'.repeat(64) },
      token,
    );
    expect(bad.error?.originalResponse?.getStatus()).toBe(422);
    const again = await tusUpload(
      endpoint,
      raw,
      { name: 'retry me', filename: 'a.img', sha256: await sha256(raw) },
      token,
    );
    expect(again.error).toBeNull();
    await expect(t.container.images.get(idOf(bad.upload))).rejects.toMatchObject({ statusCode: 404 });
    const all = await t.container.images.list({ limit: 10, offset: 0 });
    expect(all.items.map((i) => i.name).sort()).toEqual(['retry me', 'twins']);
  });

  it('checks authentication, metadata and free space before accepting a byte (problem+json)', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(endpoint, { method: 'POST', headers: { 'tus-resumable': '1.0.0', ...headers } });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const meta = `name ${b64('ok')},filename ${b64('a.img')}`;
    const anon = await post({ 'upload-length': '10', 'upload-metadata': meta });
    expect(anon.status).toBe(401);
    const viewer = await post({
      'upload-length': '10',
      'upload-metadata': meta,
      authorization: `Bearer ${await t.token('viewer')}`,
    });
    expect(viewer.status).toBe(403);
    const auth = { authorization: `Bearer ${await t.token('operator')}` };
    const badName = await post({
      ...auth,
      'upload-length': '10',
      'upload-metadata': `name ${b64('../etc')},filename ${b64('x')}`,
    });
    expect(badName.status).toBe(400);
    expect(badName.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await badName.json()).toMatchObject({ code: 'invalid_metadata' });
    const noLength = await post({ ...auth, 'upload-defer-length': '1', 'upload-metadata': meta });
    expect(((await noLength.json()) as { code: string }).code).toBe('length_required');
    const huge = await post({ ...auth, 'upload-length': String(15 * 1024 ** 4), 'upload-metadata': meta });
    expect(huge.status).toBe(507);
    const body = (await huge.json()) as { detail: string; hint: string };
    expect(body).toMatchObject({ code: 'insufficient_storage' });
    expect(body.detail).toMatch(/not enough space for 15\.0 TiB/);
    expect(body.hint).toMatch(/free space/);
    await t.container.settings.update({ storage: { reserveBytes: 1024 ** 5 } }, null);
    const reserved = await post({ ...auth, 'upload-length': '1000', 'upload-metadata': meta });
    expect(reserved.status).toBe(507);
    expect(((await reserved.json()) as { detail: string }).detail).toMatch(
      /kept in reserve \(storage.reserveBytes\)/,
    );
    expect((await t.container.images.list({ limit: 10, offset: 0 })).total).toBe(0);
  });

  it('PATCH follows tus 1.0: bad headers, offset conflicts and over-long bodies change nothing; a resuming request takes over', async () => {
    const auth = { authorization: `Bearer ${await t.token('operator')}` };
    const loc = await createUpload(auth, 'patched', 1000);
    const id = loc.split('/').pop()!;
    const data = randomBytes(1000);
    const tusHeaders = {
      ...auth,
      'tus-resumable': '1.0.0',
      'content-type': 'application/offset+octet-stream',
    };
    const patch = (headers: Record<string, string>, body: Uint8Array | ReadableStream) =>
      fetch(loc, { method: 'PATCH', headers, body, duplex: 'half' });
    const offset = async () =>
      Number((await fetch(loc, { method: 'HEAD', headers: tusHeaders })).headers.get('upload-offset'));

    const expectProblem = async (res: Response, status: number, code: string) => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ status, code });
    };
    // the protocol's own checks, each before a byte is written
    await expectProblem(
      await patch({ ...tusHeaders, 'tus-resumable': '0.2.2', 'upload-offset': '0' }, data),
      412,
      'tus_version',
    );
    await expectProblem(
      await patch({ ...tusHeaders, 'content-type': 'text/plain', 'upload-offset': '0' }, data),
      400,
      'bad_request',
    );
    await expectProblem(await patch({ ...tusHeaders, 'upload-offset': '-1' }, data), 400, 'bad_request');
    await expectProblem(
      await patch({ ...tusHeaders, 'upload-offset': '10' }, data),
      409,
      'upload_offset_mismatch',
    );
    await expectProblem(
      await patch({ ...tusHeaders, 'upload-offset': '0' }, randomBytes(1001)),
      413,
      'upload_too_large',
    );
    // without Content-Length (chunked), the excess is refused too, and nothing past the end is kept
    const tooLong = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(data.subarray(0, 600));
        c.enqueue(randomBytes(600));
        c.close();
      },
    });
    await expectProblem(
      await patch({ ...tusHeaders, 'upload-offset': '0' }, tooLong),
      413,
      'upload_too_large',
    );
    expect(await offset()).toBeLessThanOrEqual(600);
    expect(await offset()).toBe((await stat(t.container.tusStore.filePath(id))).size);

    // a PATCH that stalls mid-body (the client lost its link) holds the upload; the client resumes
    // with a new PATCH, which asks the stuck one to stop and continues from the bytes on disk
    const start = await offset();
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const stalled = patch(
      { ...tusHeaders, 'upload-offset': String(start) },
      new ReadableStream<Uint8Array>({
        start(c) {
          feed = c;
          c.enqueue(data.subarray(start, start + 100));
        },
      }),
    ).catch((e: unknown) => e);
    // watch the file, not HEAD: a HEAD takes the upload's lock and so asks the PATCH to stop, which
    // (under load, before the PATCH wrote its 100 bytes) would end it with nothing written
    const onDisk = () => stat(t.container.tusStore.filePath(id)).then((s) => s.size);
    await until(async () => ((await onDisk()) === start + 100 ? true : undefined));
    const resumed = await patch(
      { ...tusHeaders, 'upload-offset': String(start + 100) },
      data.subarray(start + 100),
    );
    expect(resumed.status).toBe(204);
    expect(resumed.headers.get('upload-offset')).toBe('1000');
    expect(resumed.headers.get('ggnet-sha256')).toBe(sha256Of(data));
    feed.close();
    const old = await stalled;
    if (old instanceof Response) await expectProblem(old, 400, 'bad_request');
    expect((await t.container.images.get(id)).state).toBe('uploaded');
  });

  it('a server that stops does not wait for an upload in progress: the upload stops and its bytes stay for the resume', async () => {
    const auth = { authorization: `Bearer ${await t.token('operator')}` };
    const loc = await createUpload(auth, 'stopping', 1000);
    const id = loc.split('/').pop()!;
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const stalled = fetch(loc, {
      method: 'PATCH',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'content-type': 'application/offset+octet-stream',
        'upload-offset': '0',
      },
      body: new ReadableStream<Uint8Array>({
        start(c) {
          feed = c;
          c.enqueue(randomBytes(100));
        },
      }),
      duplex: 'half',
    }).catch((e: unknown) => e);
    const file = t.container.tusStore.filePath(id);
    await until(async () => ((await stat(file).catch(() => null))?.size === 100 ? true : undefined));
    // the client never sends the rest: without the stop, close would wait for it forever
    await t.app.close();
    expect((await stat(file)).size).toBe(100);
    expect((await t.container.images.get(id)).state).toBe('uploading');
    feed.close();
    const answer = await stalled;
    if (answer instanceof Response) expect(answer.status).toBe(400);
  });

  it('never turns a client file name into a path', async () => {
    const r = await tusUpload(
      endpoint,
      raw,
      { name: 'sneaky', filename: '../../../../etc/cron.d/evil.vhdx' },
      await t.token('operator'),
    );
    expect(r.error).toBeNull();
    const id = idOf(r.upload);
    const img = await t.container.images.get(id);
    expect(img.sourceFilename).toBe('evil.vhdx');
    expect(await readdir(t.container.imageFiles.imageDir(id))).toEqual(['source']);
    await expect(stat('/etc/cron.d/evil.vhdx')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an abandoned upload (tus DELETE) takes its image and bytes with it', async () => {
    const token = await t.token('operator');
    let uploadUrl: string | null = null;
    await new Promise<void>((resolve, reject) => {
      const up: tus.Upload = new tus.Upload(createReadStream(big), {
        endpoint,
        metadata: { name: 'abandoned', filename: 'big.img' },
        headers: { authorization: `Bearer ${token}` },
        retryDelays: null,
        onUploadUrlAvailable: () => (uploadUrl = up.url),
        // stop after the first 10 MiB the server has confirmed (the server reads far ahead of its
        // disk: a limit on bytes sent would race with it)
        chunkSize: 10 * MiB,
        onChunkComplete: () => void up.abort(true).then(resolve, reject),
        onError: reject,
      });
      up.start();
    });
    const id = uploadUrl!.split('/').pop()!;
    await until(async () => ((await t.container.repos.images.findRow(id)) ? undefined : true), 10_000);
    await until(
      async () => ((await readdir(join(t.dataDir, 'uploads', 'tus'))).length === 0 ? true : undefined),
      10_000,
    );
  });

  it('gives up uploads that stopped for good: their image and bytes are deleted, live ones are kept', async () => {
    const token = await t.token('operator');
    const started: string[] = [];
    for (const name of ['stale', 'live']) {
      await new Promise<void>((resolve, reject) => {
        const up: tus.Upload = new tus.Upload(createReadStream(big), {
          endpoint,
          metadata: { name, filename: 'big.img' },
          headers: { authorization: `Bearer ${token}` },
          retryDelays: null,
          onUploadUrlAvailable: () => void started.push(up.url!.split('/').pop()!),
          chunkSize: 4 * MiB,
          onChunkComplete: () => void up.abort().then(resolve, reject),
          onError: reject,
        });
        up.start();
      });
    }
    const [stale, live] = started as [string, string];
    // the stale one last received a byte 8 days ago
    const old = new Date(Date.now() - 8 * 24 * 3600_000);
    await utimes(join(t.dataDir, 'uploads', 'tus', stale), old, old);
    await t.container.repos.images.update(stale, { updated_at: old.toISOString() });
    const { job } = await t.container.jobs.enqueue('image.upload_expiry', {});
    worker = startWorker(t);
    expect(await waitJob(t, job.id)).toMatchObject({
      state: 'succeeded',
      result: { deleted: 1, images: [stale] },
    });
    await expect(t.container.images.get(stale)).rejects.toMatchObject({ statusCode: 404 });
    await expect(stat(join(t.dataDir, 'uploads', 'tus', stale))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await t.container.images.get(live)).state).toBe('uploading');
  });

  it('imports a file of the import directory (admin), refusing paths and symlinks out of it', async () => {
    const importDir = join(t.dataDir, 'import');
    await put(importDir, 'readme.txt', 'x');
    const src = join(importDir, 'golden.qcow2');
    await toFormat(raw, 'qcow2', src);
    await symlink('/etc/passwd', join(importDir, 'escape.qcow2'));
    const call = async (role: 'admin' | 'operator', body: unknown) => {
      const res = await fetch(`${url}/api/v1/images/import`, {
        method: 'POST',
        headers: { ...(await t.auth(role)), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect((await call('operator', { path: src })).status).toBe(403);
    expect(await call('admin', { path: '../ggnet.db' })).toMatchObject({
      status: 400,
      body: { code: 'path_outside_import_dir' },
    });
    expect(await call('admin', { path: '/etc/passwd' })).toMatchObject({
      status: 400,
      body: { code: 'path_outside_import_dir' },
    });
    expect(await call('admin', { path: 'escape.qcow2' })).toMatchObject({
      status: 400,
      body: { code: 'path_outside_import_dir' },
    });
    expect(await call('admin', { path: 'missing.vhdx' })).toMatchObject({
      status: 404,
      body: { code: 'file_not_found' },
    });
    expect(await call('admin', { path: importDir })).toMatchObject({ status: 400 });
    const ok = await call('admin', { path: src, name: 'golden', sha256: await sha256(src) });
    expect(ok.status).toBe(202);
    const id = (ok.body.image as { id: string }).id;
    worker = startWorker(t);
    const img = await waitImage(t, id, ['ready', 'failed']);
    expect(img.error).toBeNull();
    expect(img).toMatchObject({
      state: 'ready',
      sourceFilename: 'golden.qcow2',
      sourceSha256: await sha256(src),
    });
    // the original stays where the admin put it
    expect(await sha256(src)).toBe(img.sourceSha256);
  });
});
