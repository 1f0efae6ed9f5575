import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { startWorker, waitJob } from '../helpers/images.js';
import { checksumKey } from '../../src/modules/images/image-checksum.job.js';

describeEachDialect('images and versions', (dialect) => {
  let t: TestContext;
  let h: Record<string, string>;
  beforeEach(async () => {
    t = await createTestContext(dialect);
    h = await t.auth('operator');
  });
  afterEach(async () => t.close());

  const rawFile = (bytes = 64 * 1024) => {
    const data = randomBytes(bytes);
    const p = join(t.dataDir, `src-${randomBytes(4).toString('hex')}.raw`);
    writeFileSync(p, data);
    return { path: p, sha256: createHash('sha256').update(data).digest('hex'), size: bytes };
  };

  it('creates, renames, lists and refuses duplicate names', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/images',
      headers: h,
      payload: { name: 'Windows 11 LAN', osType: 'windows' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      name: 'Windows 11 LAN',
      state: 'uploading',
      versionCount: 0,
      machineCount: 0,
      publishedVersionId: null,
    });
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/images',
          headers: h,
          payload: { name: 'Windows 11 LAN' },
        })
      ).json().code,
    ).toBe('image_name_taken');
    const upd = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/images/${res.json().id}`,
      headers: h,
      payload: { description: 'tournament build' },
    });
    expect(upd.json().description).toBe('tournament build');
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/images?q=lan', headers: h });
    expect(list.json().total).toBe(1);
  });

  it('adds versions from files (hash, size), publishes, rolls back, protects and deletes with the right refusals', async () => {
    const img = await t.container.images.create({ name: 'Linux' }, 'admin');
    const f1 = rawFile();
    const v1 = await t.container.images.addVersionFromFile(img.id, f1.path, {
      comment: 'first',
      author: 'admin',
      parentVersionId: null,
    });
    // ready at once; the sha256 comes from a checksum job, not from the request
    expect(v1).toMatchObject({
      number: 1,
      state: 'ready',
      sha256: null,
      sizeBytes: f1.size,
      published: false,
    });
    expect(existsSync(f1.path)).toBe(false);
    const queued = await t.container.jobs.activeByKey(checksumKey(v1.id));
    expect(queued).toMatchObject({ type: 'image.checksum', state: 'queued', payload: { versionId: v1.id } });
    const worker = startWorker(t);
    try {
      expect((await waitJob(t, queued!.id)).state).toBe('succeeded');
    } finally {
      await worker.stop();
    }
    expect((await t.container.images.getVersion(img.id, v1.id)).sha256).toBe(f1.sha256);
    const f2 = rawFile();
    const v2 = await t.container.images.addVersionFromFile(img.id, f2.path, {
      comment: 'second',
      author: 'admin',
      parentVersionId: v1.id,
    });
    expect(v2.number).toBe(2);

    const url = (v: string, s = '') => `/api/v1/images/${img.id}/versions/${v}${s}`;
    expect(
      (await t.app.inject({ method: 'POST', url: url(v2.id, '/publish'), headers: h })).json().published,
    ).toBe(true);
    expect(
      (await t.app.inject({ method: 'GET', url: `/api/v1/images/${img.id}`, headers: h })).json(),
    ).toMatchObject({ publishedVersionId: v2.id, versionCount: 2, sizeBytes: f1.size + f2.size });
    // rollback = publish the older one
    expect(
      (await t.app.inject({ method: 'POST', url: url(v1.id, '/publish'), headers: h })).json().published,
    ).toBe(true);
    const versions = (
      await t.app.inject({ method: 'GET', url: `/api/v1/images/${img.id}/versions`, headers: h })
    ).json();
    expect(
      versions.items.map((v: { number: number; published: boolean }) => [v.number, v.published]),
    ).toEqual([
      [2, false],
      [1, true],
    ]);

    const delPublished = await t.app.inject({ method: 'DELETE', url: url(v1.id), headers: h });
    expect(delPublished.statusCode).toBe(409);
    expect(delPublished.json().code).toBe('version_published');
    const patched = await t.app.inject({
      method: 'PATCH',
      url: url(v2.id),
      headers: h,
      payload: { comment: 'keep for finals', protected: true },
    });
    expect(patched.json()).toMatchObject({ comment: 'keep for finals', protected: true });

    const versionFile = join(t.dataDir, 'images', img.id, 'versions', `${v2.id}.raw`);
    expect(existsSync(versionFile)).toBe(true);
    expect((await t.app.inject({ method: 'DELETE', url: url(v2.id), headers: h })).statusCode).toBe(204);
    expect(existsSync(versionFile)).toBe(false);
    expect((await t.app.inject({ method: 'GET', url: url(v2.id), headers: h })).statusCode).toBe(404);
  });

  it('refuses to delete an image that machines boot, and deletes its files otherwise', async () => {
    const img = await t.container.images.create({ name: 'Shared' }, 'admin');
    const f = rawFile();
    await t.container.images.addVersionFromFile(img.id, f.path, {
      comment: '',
      author: null,
      parentVersionId: null,
    });
    const m = await t.container.machines.create({
      name: 'pc-1',
      mac: '52:54:00:00:70:01',
      bootImageId: img.id,
    });
    const res = await t.app.inject({ method: 'DELETE', url: `/api/v1/images/${img.id}`, headers: h });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'image_assigned' });
    expect(res.json().detail).toContain('pc-1');
    expect(
      (await t.app.inject({ method: 'GET', url: `/api/v1/images/${img.id}`, headers: h })).json()
        .machineCount,
    ).toBe(1);
    await t.container.machines.update(m.id, { bootImageId: null });
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/v1/images/${img.id}`, headers: h })).statusCode,
    ).toBe(204);
    expect(existsSync(join(t.dataDir, 'images', img.id))).toBe(false);
  });
});
