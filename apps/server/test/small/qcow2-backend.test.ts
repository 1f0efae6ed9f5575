import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../../src/adapters/process/process-runner.fake.js';
import { FakeQemuStorageDaemon } from '../../src/adapters/qsd/qsd.fake.js';
import type { SeededImage } from '../helpers/iscsi.js';
import { smallContext, smallImage, smallMachine, type SmallContext } from '../helpers/small.js';

/**
 * The qcow2 backend through the container (orchestrator, storage, target manager, reconciler) with
 * the fakes: qemu-img and fincore by a fake runner, qemu-storage-daemon and tgtd in memory.
 */
describe('qcow2 session disks through the container (fakes)', () => {
  let s: SmallContext;
  let img: SeededImage;
  let qsd: FakeQemuStorageDaemon;
  beforeEach(async () => {
    qsd = new FakeQemuStorageDaemon();
    const runner = new FakeProcessRunner().on('qemu-img', () => ({}));
    s = await smallContext({ container: { qsd, runner } });
    await s.c.settings.update({ storage: { backend: 'qcow2' } }, null);
    img = await smallImage(s.c);
  });
  afterEach(async () => s.close());

  const start = (machineId: string) =>
    s.c.orchestrator.startSession({ machineId, mode: 'normal', clientIp: '10.0.0.5' });

  it('a boot serves an overlay and backs its LUN with the export (buffered, no bsoflags); keep unserves, the next boot serves it again; discard removes it', async () => {
    const m = await smallMachine(s.c, img.imageId, { keepWriteback: true });
    const info = await start(m.id);
    const wb = (await s.c.repos.writebacks.bySession(info.sessionId))[0]!;
    expect(wb).toMatchObject({ backend: 'qcow2', state: 'ready', path: `overlays/${wb.id}.qcow2` });
    expect([...qsd.served.keys()]).toEqual([wb.id]);
    expect(s.driver.lunSpecs).toEqual([
      expect.objectContaining({
        iqn: info.targetIqn,
        lun: 1,
        path: s.c.imageFiles.inside(`exports/${wb.id}.img`),
      }),
    ]);
    expect(s.driver.lunSpecs[0]).not.toHaveProperty('bsoflags');
    // the machine keeps its disk: the session ends, the export goes, the overlay stays
    await s.c.sessions.stop(info.sessionId, {});
    expect((await s.c.repos.writebacks.findById(wb.id))?.state).toBe('kept');
    expect(qsd.served.size).toBe(0);
    expect(existsSync(s.c.imageFiles.inside(wb.path))).toBe(true);
    const again = await start(m.id);
    expect((await s.c.repos.writebacks.bySession(again.sessionId))[0]?.id).toBe(wb.id);
    expect([...qsd.served.keys()]).toEqual([wb.id]);
    // discard on a machine that does not keep
    await s.c.machines.update(m.id, { keepWriteback: false });
    await s.c.sessions.stop(again.sessionId, {});
    await s.c.storage.idle();
    expect((await s.c.repos.writebacks.findById(wb.id))?.state).toBe('discarded');
    expect(qsd.served.size).toBe(0);
    expect(existsSync(s.c.imageFiles.inside(wb.path))).toBe(false);
  });

  it('with a QEMU whose FUSE export takes large O_DIRECT writes whole (10 and later) the LUN opens the export direct', async () => {
    qsd.qemu = { major: 10, minor: 0, micro: 13 };
    const m = await smallMachine(s.c, img.imageId);
    const info = await start(m.id);
    expect(s.driver.lunSpecs).toEqual([expect.objectContaining({ iqn: info.targetIqn, bsoflags: 'direct' })]);
  });

  it('after a daemon restart the reconciler exports the served disks again and re-adds their LUNs; orphan exports go', async () => {
    const m = await smallMachine(s.c, img.imageId);
    const info = await start(m.id);
    const wb = (await s.c.repos.writebacks.bySession(info.sessionId))[0]!;
    qsd.crash();
    // the old daemon's FUSE mount is dead: unmounted before the file is exported again
    expect(qsd.mounted.size).toBe(1);
    expect(qsd.served.size).toBe(0);
    const r = await s.c.reconciler.run('test');
    expect(r.errors.filter((e) => !e.startsWith('spares'))).toEqual([]);
    expect(r.exportsRecreated).toBe(1);
    expect([...qsd.served.keys()]).toEqual([wb.id]);
    expect(qsd.calls.slice(-2)).toEqual([
      `unmount ${s.c.imageFiles.inside(`exports/${wb.id}.img`)}`,
      `export ${wb.id}`,
    ]);
    const lunCalls = s.driver.calls.filter((c) => /^(un)?lun /.test(c));
    expect(lunCalls).toEqual([
      `lun ${info.targetIqn} 1`,
      `unlun ${info.targetIqn} 1`,
      `lun ${info.targetIqn} 1`,
    ]);
    // an export no disk owns (left by a GGnet that stopped half-way) is removed; the served one stays
    const orphan = '00000000-0000-4000-8000-000000000001';
    await qsd.exportOverlay({
      id: orphan,
      overlayPath: s.c.imageFiles.inside(`overlays/${orphan}.qcow2`),
      masterPath: img.file,
      mountpoint: s.c.imageFiles.inside(`exports/${orphan}.img`),
    });
    const r2 = await s.c.reconciler.run('test');
    expect(r2.exportsRemoved).toBe(1);
    expect([...qsd.served.keys()]).toEqual([wb.id]);
    expect(existsSync(s.c.imageFiles.inside(`exports/${orphan}.img`))).toBe(false);
  });

  it('a daemon that cannot serve the disk: the boot fails with a clear 503 and leaves no target', async () => {
    const m = await smallMachine(s.c, img.imageId);
    qsd.exportOverlay = () => Promise.reject(new Error('spawn qemu-storage-daemon ENOENT'));
    await expect(start(m.id)).rejects.toMatchObject({ statusCode: 503, code: 'disk_not_served' });
    expect(s.driver.targets.size).toBe(0);
  });

  it('GET /storage/cache: page cache per version (fincore) and the daemon counters', async () => {
    const m = await smallMachine(s.c, img.imageId);
    await start(m.id);
    qsd.io = { readBytes: 1000, diskReadBytes: 100 };
    s.c.storage.cache.maxAgeMs = 0;
    const first = await s.c.storage.cache.get();
    expect(first).toMatchObject({ backend: 'qcow2', readBytes: 0, diskReadBytes: 0, hitRate: null });
    qsd.io = { readBytes: 1000 + 4000, diskReadBytes: 100 + 1000 };
    const c = await s.c.storage.cache.get();
    expect(c).toMatchObject({ readBytes: 4000, diskReadBytes: 1000, hitRate: 0.75 });
    expect(c.daemon).toMatchObject({ state: 'running' });
    expect(c.versions).toEqual([
      expect.objectContaining({ versionId: img.versionId, disks: 1, imageName: 'win11' }),
    ]);
  });
});

describe('storage backend detection (storage.backend unset)', () => {
  const detected = async (o: { external: boolean; major: number }) => {
    const qsd = new FakeQemuStorageDaemon();
    qsd.external = o.external;
    qsd.qemu = { major: o.major, minor: 0, micro: 0 };
    const s = await smallContext({ container: { qsd } });
    try {
      await s.c.settings.update({ storage: { backend: null } }, null);
      return await s.c.storage.backendKind();
    } finally {
      await s.close();
    }
  };

  it('qcow2 where the storage unit runs the daemon with QEMU 10 or later; else reflink or copy', async () => {
    expect(await detected({ external: true, major: 10 })).toEqual({ kind: 'qcow2', detected: true });
    // QEMU 7.2 (Debian 12): its export is opened buffered, each client caches some of its own
    expect((await detected({ external: true, major: 7 })).kind).not.toBe('qcow2');
    // GGnet's own daemon (run by hand, as root): qcow2 only when asked for
    expect((await detected({ external: false, major: 10 })).kind).not.toBe('qcow2');
    expect(['reflink', 'copy']).toContain((await detected({ external: false, major: 10 })).kind);
  });
});
