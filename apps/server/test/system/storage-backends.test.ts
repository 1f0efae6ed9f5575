import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { fileSha256, makeLoopFs, seedImage, tool, type LoopFs, type SeededImage } from '../helpers/iscsi.js';

const mac = () => `52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`;

/** Writes `len` random bytes at `offset` into a file, as a client would through its target. */
async function scribble(path: string, offset: number, len: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(randomBytes(len), 0, len, offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Storage backends on real filesystems: XFS (mkfs.xfs -m reflink=1) and btrfs in loop files the test
 * makes, mounts and unmounts (reflink), and the plain tmp filesystem of this machine (ext4: copy).
 */
describeEachDialect('storage backends', (dialect) => {
  for (const kind of ['xfs', 'btrfs'] as const) {
    describe(`reflink on ${kind}`, () => {
      let fs: LoopFs;
      let t: TestContext;
      let img: SeededImage;
      beforeAll(async () => {
        fs = await makeLoopFs(kind);
        t = await createTestContext(dialect, { config: { dataDir: join(fs.dir, 'data') } });
        await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
        img = await seedImage(t.container, `img-${kind}`, { sizeMiB: 256, dataMiB: 64 });
      });
      afterAll(async () => {
        try {
          await t?.container.storage.idle();
          await t?.close();
        } finally {
          await fs?.cleanup();
        }
      });

      it('detects reflink; a writeback is a clone that owns no blocks until written; the version stays intact', async () => {
        expect(await t.container.storage.backendKind()).toEqual({ kind: 'reflink', detected: true });
        const m = await t.container.machines.create({
          name: `pc-${kind}`,
          mac: mac(),
          bootImageId: img.imageId,
        });
        const master = await fileSha256(img.file);
        const df0 = (await t.container.storage.summary()).freeBytes;
        const wb = await t.container.storage.create({
          machineId: m.id,
          imageId: img.imageId,
          versionId: img.versionId,
          sessionId: null,
          targetId: null,
          lun: 1,
        });
        expect(wb.backend).toBe('reflink');
        const file = t.container.imageFiles.inside(wb.path);
        expect(statSync(file).size).toBe(img.sizeBytes);
        // a client's disk is GGnet's only, even when the version file is readable by others
        expect(statSync(img.file).mode & 0o777).toBe(0o644);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(await fileSha256(file)).toBe(master);
        const frag = await tool('filefrag', ['-v', file]);
        expect(frag.stdout).toMatch(/shared/);
        expect((await t.container.storage.get(wb.id)).usedBytes).toBe(0);
        // 64 MiB of data cloned: free space barely moves
        const df1 = (await t.container.storage.summary()).freeBytes;
        expect(df0 - df1).toBeLessThan(8 * 1024 * 1024);

        await scribble(file, 10 * 1024 * 1024, 2 * 1024 * 1024);
        const used = (await t.container.storage.get(wb.id)).usedBytes!;
        expect(used).toBeGreaterThanOrEqual(2 * 1024 * 1024);
        expect(used).toBeLessThan(16 * 1024 * 1024);
        expect(await fileSha256(img.file)).toBe(master);

        const summary = await t.app.inject({
          method: 'GET',
          url: '/api/v1/storage',
          headers: await t.auth('viewer'),
        });
        expect(summary.statusCode).toBe(200);
        const s = summary.json();
        expect(s).toMatchObject({ backend: 'reflink', detected: true, warning: null, writebackCount: 1 });
        expect(s.images.find((i: { imageId: string }) => i.imageId === img.imageId)).toMatchObject({
          versionCount: 1,
          writebackCount: 1,
        });
        expect(s.writebackBytes).toBe(used);

        await t.container.storage.discard(wb.id);
        expect(() => statSync(file)).toThrow();
        expect((await t.container.storage.get(wb.id)).state).toBe('discarded');
      });

      it('keeps spare clones of published versions: a boot takes one with a rename, the pool refills', async () => {
        await t.container.storage.idle();
        const spareDir = join(t.config.dataDir, 'writebacks', '.spare', img.versionId);
        const spares = () => readdirSync(spareDir).filter((n) => n.endsWith('.raw'));
        const r = await t.container.storage.reconcileSpares();
        await t.container.storage.idle();
        expect(spares()).toHaveLength(4);
        expect(r.removed).toBe(0);
        const inodes = new Set(spares().map((n) => statSync(join(spareDir, n)).ino));
        for (const n of spares()) expect(statSync(join(spareDir, n)).mode & 0o777).toBe(0o600);
        const m = await t.container.machines.create({
          name: `pc-spare-${kind}`,
          mac: mac(),
          bootImageId: img.imageId,
        });
        const wb = await t.container.storage.create({
          machineId: m.id,
          imageId: img.imageId,
          versionId: img.versionId,
          sessionId: null,
          targetId: null,
          lun: 1,
        });
        // the writeback is one of the spares, moved into place
        expect(inodes.has(statSync(t.container.imageFiles.inside(wb.path)).ino)).toBe(true);
        expect(await fileSha256(t.container.imageFiles.inside(wb.path))).toBe(await fileSha256(img.file));
        await t.container.storage.idle();
        expect(spares()).toHaveLength(4);
        // a version nobody boots any more loses its spares; spareClones 0 turns the pool off
        await t.container.settings.update({ storage: { spareClones: 0 } }, 'test');
        const off = await t.container.storage.reconcileSpares();
        expect(off.removed).toBe(4);
        expect(existsSync(spareDir)).toBe(false);
        await t.container.settings.update({ storage: { spareClones: 4 } }, 'test');
        await t.container.storage.discard(wb.id);
      });
    });
  }

  describe('copy on a filesystem without reflink', () => {
    let t: TestContext;
    let img: SeededImage;
    let dataDir: string;
    const lines: string[] = [];
    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'ggnet-copy-'));
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      });
      t = await createTestContext(dialect, {
        config: { dataDir },
        container: { log: pino({ level: 'warn' }, sink) },
      });
      await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
      img = await seedImage(t.container, 'img-copy', { sizeMiB: 128, dataMiB: 4 });
    });
    afterAll(async () => {
      try {
        await t?.close();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it('falls back to full (sparse-aware) copies and warns at start-up and in the API', async () => {
      const fsType = (await tool('stat', ['-f', '-c', '%T', dataDir])).stdout.trim();
      expect(['ext2/ext3', 'ext4', 'tmpfs', 'overlayfs']).toContain(fsType);
      expect(await t.container.storage.backendKind()).toEqual({ kind: 'copy', detected: true });
      await t.container.storage.startupCheck();
      expect(lines.join('')).toMatch(/storage backend \\"copy\\": every boot makes a full copy/);
      const m = await t.container.machines.create({ name: 'pc-copy', mac: mac(), bootImageId: img.imageId });
      const wb = await t.container.storage.create({
        machineId: m.id,
        imageId: img.imageId,
        versionId: img.versionId,
        sessionId: null,
        targetId: null,
        lun: 1,
      });
      const file = t.container.imageFiles.inside(wb.path);
      expect(wb.backend).toBe('copy');
      expect(await fileSha256(file)).toBe(await fileSha256(img.file));
      expect(statSync(img.file).mode & 0o777).toBe(0o644);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // holes stay holes: about the 4 MiB of data is allocated, not 128 MiB
      expect(statSync(file).blocks * 512).toBeLessThan(16 * 1024 * 1024);
      const summary = await t.app.inject({
        method: 'GET',
        url: '/api/v1/storage',
        headers: await t.auth('viewer'),
      });
      expect(summary.json().warning).toMatch(/full copy/);
    });

    it('storage.backend=reflink where the filesystem cannot: a clear 503, no file, no live row', async () => {
      await t.container.settings.update({ storage: { backend: 'reflink' } }, 'test');
      try {
        const m = await t.container.machines.create({
          name: 'pc-noreflink',
          mac: mac(),
          bootImageId: img.imageId,
        });
        await expect(
          t.container.storage.create({
            machineId: m.id,
            imageId: img.imageId,
            versionId: img.versionId,
            sessionId: null,
            targetId: null,
            lun: 1,
          }),
        ).rejects.toMatchObject({ statusCode: 503, code: 'reflink_unsupported' });
        const live = await t.container.storage.list({ limit: 10, offset: 0, machineId: m.id, live: 'true' });
        expect(live.total).toBe(0);
        const all = await t.container.storage.list({ limit: 10, offset: 0, machineId: m.id, live: 'all' });
        expect(all.items[0]).toMatchObject({ state: 'discarded' });
        expect(all.items[0]!.error).toMatch(/EOPNOTSUPP|ENOTSUP|EXDEV|EINVAL/);
        const names = (await tool('ls', [join(dataDir, 'writebacks')])).stdout;
        expect(names).not.toContain(all.items[0]!.id);
      } finally {
        await t.container.settings.update({ storage: { backend: null } }, 'test');
      }
    });
  });
});
