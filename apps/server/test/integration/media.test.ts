import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { bootClient, bootTestContext, result } from '../helpers/boot.js';
import { MiB, listen, tempDir } from '../helpers/images.js';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { tusUpload } from '../helpers/uploads.js';

/**
 * Issue 15, points 1-2: blank images (an empty sparse RAW version, instant), ISO files taken in by
 * the upload paths as install media (recognised by content, stored as they are), and install mode:
 * the machine's script hooks its maintenance disk as drive 0x80 and boots the ISO from GGnet's HTTP,
 * which serves it by byte ranges to that machine only.
 */
let work: { dir: string; remove: () => Promise<void> };
let iso: string;
let isoBytes: Buffer;
let notIso: string;

beforeAll(async () => {
  work = await tempDir();
  // an ISO 9660 image as far as content recognition goes: the primary volume descriptor at 32 KiB
  isoBytes = randomBytes(2 * MiB + 1234);
  isoBytes[32768] = 0x01;
  isoBytes.write('CD001', 32769, 'latin1');
  iso = join(work.dir, 'installer.iso');
  await writeFile(iso, isoBytes);
  const raw = Buffer.from(isoBytes);
  raw.write('XXXXX', 32769, 'latin1');
  notIso = join(work.dir, 'disk.img');
  await writeFile(notIso, raw);
});
afterAll(async () => work.remove());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describeEachDialect('blank images, install media, install mode', (dialect) => {
  let t: TestContext;
  beforeEach(async () => {
    url = null;
    ({ t } = await bootTestContext(dialect));
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, null);
  });
  afterEach(async () => t.close());

  const api = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    t.app.inject({ method, url, headers: await t.auth('operator'), payload });

  let url: string | null = null;
  /** The tus endpoint on a real socket (opened once per test). */
  const endpoint = async () => `${(url ??= await listen(t))}/api/v1/uploads`;
  /** An install medium through the tus upload path (the same one images take). */
  const uploadIso = async (name = 'debian-installer') => {
    const r = await tusUpload(
      await endpoint(),
      iso,
      { name, filename: 'installer.iso' },
      await t.token('operator'),
    );
    expect(r.error).toBeNull();
    return r;
  };

  it('POST /images with sizeBytes makes a blank image: a sparse RAW v1, ready and published at once', async () => {
    const size = 3 * 1024 ** 3 + 1; // rounded up to whole MiB
    const res = await api('POST', '/api/v1/images', {
      name: 'blank-win',
      sizeBytes: size,
      osType: 'windows',
    });
    expect(res.statusCode).toBe(201);
    const img = res.json();
    expect(img).toMatchObject({ name: 'blank-win', state: 'ready', versionCount: 1 });
    const versions = (await api('GET', `/api/v1/images/${img.id}/versions`)).json().items;
    expect(versions).toHaveLength(1);
    const v = versions[0];
    expect(v).toMatchObject({ number: 1, state: 'ready', published: true, sizeBytes: 3 * 1024 ** 3 + MiB });
    expect(img.publishedVersionId).toBe(v.id);
    const file = t.container.imageFiles.inside(t.container.imageFiles.versionRelPath(img.id, v.id));
    const st = await stat(file);
    expect(st.size).toBe(3 * 1024 ** 3 + MiB);
    expect(st.blocks * 512).toBeLessThan(MiB); // sparse: nothing written
    expect(v.allocatedBytes).toBeLessThan(MiB);

    const small = await api('POST', '/api/v1/images', { name: 'tiny', sizeBytes: 4096 });
    expect(small.statusCode).toBe(400);
    expect(small.json()).toMatchObject({ code: 'validation_failed' });
    expect(small.json().errors[0].path).toBe('body.sizeBytes');
    expect((await api('GET', '/api/v1/images')).json().items.map((i: { name: string }) => i.name)).toEqual([
      'blank-win',
    ]);
  });

  it('an ISO uploaded through tus becomes an install medium, stored byte for byte; a disk image does not', async () => {
    const r = await uploadIso();
    const id = r.upload.url!.split('/').pop()!;
    expect(r.headers['GGnet-Media-Id']).toBe(id);
    expect(r.headers['GGnet-Job-Id']).toBeUndefined();
    const list = (await api('GET', '/api/v1/media')).json();
    expect(list.total).toBe(1);
    expect(list.items[0]).toMatchObject({
      id,
      name: 'debian-installer',
      filename: 'installer.iso',
      sizeBytes: isoBytes.length,
      sha256: sha(isoBytes),
      machineCount: 0,
      createdBy: 'test-operator',
    });
    // no image is left behind, and the file is the ISO as uploaded
    expect((await api('GET', `/api/v1/images/${id}`)).statusCode).toBe(404);
    expect((await api('GET', '/api/v1/images')).json().total).toBe(0);
    const stored = await readFile(t.container.imageFiles.inside(t.container.imageFiles.mediaRelPath(id)));
    expect(sha(stored)).toBe(sha(isoBytes));

    // the same bytes without the ISO signature: an image upload as always (queued for conversion)
    const disk = await tusUpload(
      await endpoint(),
      notIso,
      { name: 'a-disk', filename: 'disk.img' },
      await t.token('operator'),
    );
    expect(disk.error).toBeNull();
    expect(disk.headers['GGnet-Media-Id']).toBeUndefined();
    expect(disk.headers['GGnet-Job-Id']).toBeTruthy();
    expect((await t.container.images.get(disk.upload.url!.split('/').pop()!)).state).toBe('uploaded');
    expect((await api('GET', '/api/v1/media')).json().total).toBe(1);
  });

  it('PUT /images/{id}/content with an ISO answers with the medium', async () => {
    const img = (await api('POST', '/api/v1/images', { name: 'put-iso' })).json();
    const res = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/images/${img.id}/content?filename=x.iso`,
      headers: { ...(await t.auth('operator')), 'content-type': 'application/octet-stream' },
      payload: isoBytes,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: img.id, name: 'put-iso', sha256: sha(isoBytes), machineCount: 0 });
    expect((await api('GET', `/api/v1/media/${img.id}`)).statusCode).toBe(200);
    expect((await api('GET', `/api/v1/images/${img.id}`)).statusCode).toBe(404);
  });

  it('install mode: needs maintenance and a medium; the script hooks the disk and boots the ISO; ranges to that machine only', async () => {
    const r = await uploadIso('netinst');
    const mediaId = r.headers['GGnet-Media-Id']!;
    const img = (await api('POST', '/api/v1/images', { name: 'blank', sizeBytes: 256 * MiB })).json();
    const create = (body: object) =>
      api('POST', '/api/v1/machines', {
        name: 'pc-inst',
        mac: '52:54:00:15:00:01',
        bootImageId: img.id,
        ...body,
      });

    let res = await create({ installMediaId: mediaId });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'install_needs_maintenance' });
    res = await create({ bootMode: 'maintenance', installMediaId: '00000000-0000-4000-8000-000000000000' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'media_not_found' });
    res = await create({ bootMode: 'maintenance', installMediaId: mediaId });
    expect(res.statusCode).toBe(201);
    const machine = res.json();
    expect(machine).toMatchObject({ bootMode: 'maintenance', installMediaId: mediaId });

    // the medium cannot go while a machine installs from it
    res = await api('DELETE', `/api/v1/media/${mediaId}`);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'media_in_use' });
    expect((await api('GET', `/api/v1/media/${mediaId}`)).json().machineCount).toBe(1);

    // nobody gets the ISO before the machine boots in install mode
    const media = (ip: string, range?: string) =>
      t.app.inject({
        method: 'GET',
        url: `/boot/media/${mediaId}.iso`,
        remoteAddress: ip,
        headers: range ? { range } : {},
      });
    expect((await media('10.0.0.9')).statusCode).toBe(404);

    const boot = await bootClient(t).boot(machine.mac, '10.0.0.9');
    expect(result(boot)).toBe('boot');
    const script = boot.body;
    expect(script).toContain('INSTALLS onto');
    expect(script).toMatch(/sanhook --drive 0x80 iscsi:[^\n]+ \|\| goto fail1/);
    expect(script).toContain(
      `sanboot --no-describe --drive 0x81 http://10.0.0.1:8080/boot/media/${mediaId}.iso || goto fail1`,
    );
    expect(script).not.toMatch(/^sanboot iscsi:/m);

    // byte ranges, as iPXE reads a SAN disk over HTTP: first byte, middle, last, open end, bad
    const size = isoBytes.length;
    res = await media('10.0.0.9', 'bytes=0-0');
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes 0-0/${size}`);
    expect(res.rawPayload).toEqual(isoBytes.subarray(0, 1));
    res = await media('10.0.0.9', 'bytes=32768-36863');
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-length']).toBe('4096');
    expect(res.rawPayload).toEqual(isoBytes.subarray(32768, 36864));
    res = await media('10.0.0.9', `bytes=-1`);
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${size - 1}-${size - 1}/${size}`);
    expect(res.rawPayload).toEqual(isoBytes.subarray(size - 1));
    res = await media('10.0.0.9', `bytes=${size}-`);
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${size}`);
    expect(res.json()).toMatchObject({ code: 'range_not_satisfiable' });
    res = await media('10.0.0.9');
    expect(res.statusCode).toBe(200);
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(sha(res.rawPayload)).toBe(sha(isoBytes));
    res = await t.app.inject({
      method: 'HEAD',
      url: `/boot/media/${mediaId}.iso`,
      remoteAddress: '10.0.0.9',
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(size));
    // another client on the boot LAN, and a path that is not an id, get nothing
    expect((await media('10.0.0.8', 'bytes=0-0')).statusCode).toBe(404);
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: '/boot/media/..%2f..%2fetc%2fpasswd',
          remoteAddress: '10.0.0.9',
        })
      ).statusCode,
    ).toBe(404);

    // leaving maintenance ends install mode; then the medium can be deleted (and its file goes)
    res = await api('PATCH', `/api/v1/machines/${machine.id}`, { bootMode: 'normal' });
    expect(res.json()).toMatchObject({ bootMode: 'normal', installMediaId: null });
    expect((await media('10.0.0.9', 'bytes=0-0')).statusCode).toBe(404);
    res = await api('DELETE', `/api/v1/media/${mediaId}`);
    expect(res.statusCode).toBe(204);
    await expect(
      stat(t.container.imageFiles.inside(t.container.imageFiles.mediaRelPath(mediaId))),
    ).rejects.toThrow();
    expect((await api('GET', '/api/v1/media')).json().total).toBe(0);
  });
});
