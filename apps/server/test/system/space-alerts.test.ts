import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '@ggnet/contracts';
import { seedImage } from '../helpers/iscsi.js';
import { isRoot, loopFs, tempDir } from '../helpers/images.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

const MiB = 1024 * 1024;

/**
 * The array alerts on a real, small filesystem: a 96 MiB ext4 in a loop file is the data dir (root:
 * mount). Writes into a writeback fill it past alerts.arrayUsedPercent and towards the reserve; the
 * alerts rise (once), escalate below the reserve, and clear when the writeback is discarded.
 */
(isRoot ? describe : describe.skip)('space alerts on a small filesystem (loop-mounted; needs root)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (dialect === 'postgres' && !process.env.GGNET_TEST_PG_URL) continue;
    it(`a writeback that grows crosses the array threshold, then nears and crosses the reserve; discard clears both [${dialect}]`, async () => {
      const fs = await loopFs(96);
      cleanups.push(fs.unmount);
      const db = await tempDir();
      cleanups.push(db.remove);
      const t: TestContext = await createTestContext(dialect, {
        app: false,
        config: {
          dataDir: fs.mnt,
          ...(dialect === 'sqlite' ? { databaseUrl: `sqlite:${join(db.dir, 'ggnet.db')}` } : {}),
        },
      });
      cleanups.push(() => t.close());
      const c = t.container;
      await c.settings.update(
        {
          storage: { backend: 'copy', reserveBytes: 16 * MiB, spareClones: 0 },
          alerts: { arrayUsedPercent: 50, reserveWarnBytes: 16 * MiB, hysteresisPercent: 5 },
        },
        null,
      );
      const img = await seedImage(c, 'small', { sizeMiB: 80, dataMiB: 0 });
      const m = await c.machines.create({
        name: 'pc-1',
        mac: '52:54:00:00:01:01',
        ip: null,
        bootImageId: img.imageId,
        keepWriteback: false,
      });
      const wb = await c.storage.create({
        machineId: m.id,
        imageId: img.imageId,
        versionId: img.versionId,
        sessionId: null,
        targetId: null,
        lun: 1,
      });
      const file = c.imageFiles.inside(wb.path);
      const fh = await open(file, 'r+');
      const writeMiB = async (at: number, n: number) => {
        for (let i = 0; i < n; i++) await fh.write(randomBytes(MiB), 0, MiB, (at + i) * MiB);
        await fh.sync();
      };
      try {
        const start = await c.alerts.check();
        expect(start.raised).toEqual([]);
        const { totalBytes } = await c.storage.summary();

        // fill the array to ~60 %: array.usage rises, the reserve is still far
        let written = 0;
        const fillTo = async (usedFraction: number) => {
          for (;;) {
            const { freeBytes } = await c.storage.summary();
            if ((totalBytes - freeBytes) / totalBytes >= usedFraction) return;
            await writeMiB(written, 2);
            written += 2;
          }
        };
        await fillTo(0.6);
        const usage = await c.alerts.check();
        expect(usage.raised.map((a) => a.kind)).toEqual(['array.usage']);
        expect(usage.raised[0]).toMatchObject({ subjectType: 'array', threshold: 50, severity: 'warning' });
        expect(usage.raised[0]!.value).toBeGreaterThan(50);
        expect(usage.raised[0]!.subjectName).toBe(join(fs.mnt, 'writebacks'));

        // nearer the reserve (free < reserve + warn = 32 MiB): warned before the reserve is reached
        for (;;) {
          const { freeBytes } = await c.storage.summary();
          if (freeBytes < 28 * MiB) break;
          await writeMiB(written, 2);
          written += 2;
        }
        const near = await c.alerts.check();
        expect(near.raised.map((a) => a.kind)).toEqual(['array.reserve']);
        expect(near.raised[0]).toMatchObject({ severity: 'warning' });
        expect(near.raised[0]!.message).toMatch(/before the reserve/);
        const events: Alert[] = [];
        c.bus.subscribe((e) => e.type === 'alert.raised' && events.push(e.data as Alert));

        // below the reserve: the same alert escalates to critical (notified once more), new writebacks are refused
        for (;;) {
          const { freeBytes } = await c.storage.summary();
          if (freeBytes < 12 * MiB) break;
          await writeMiB(written, 2);
          written += 2;
        }
        const below = await c.alerts.check();
        expect(below.raised).toEqual([]);
        expect(events.map((a) => [a.kind, a.severity, a.id])).toEqual([
          ['array.reserve', 'critical', near.raised[0]!.id],
        ]);
        await expect(
          c.storage.create({
            machineId: m.id,
            imageId: img.imageId,
            versionId: img.versionId,
            sessionId: null,
            targetId: null,
            lun: 2,
          }),
        ).rejects.toMatchObject({ statusCode: 507 });
        const open1 = await c.alerts.list({ state: 'raised', limit: 50, offset: 0 });
        expect(open1.items.map((a) => a.kind).sort()).toEqual(['array.reserve', 'array.usage']);

        await fh.close().catch(() => undefined);
        await c.storage.discard(wb.id);
        const after = await c.alerts.check();
        expect(after.cleared.map((a) => a.kind).sort()).toEqual(['array.reserve', 'array.usage']);
        expect(after.open).toBe(0);
      } finally {
        await fh.close().catch(() => undefined);
      }
    });
  }
});
