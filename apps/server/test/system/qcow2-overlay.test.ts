import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseFuseMounts } from '../../src/adapters/qsd/qsd.adapter.js';
import { storageDaemonCheck } from '../../src/cli/doctor.js';
import { createContainer } from '../../src/container.js';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  QemuIoSession,
  alivePid,
  closeQcow2Context,
  fileSha256,
  iscsiTestContext,
  qemuOpts,
  readRange,
  readThroughIscsi,
  seedImage,
  tool,
  writeThroughIscsi,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';
import { killPid, tgtShowTargets } from '@ggnet/testkit';

const mac = () => `52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`;
const MiB = 1024 * 1024;
const fuseMounts = (dir: string) => parseFuseMounts(readFileSync('/proc/self/mountinfo', 'utf8'), dir);

/**
 * The qcow2 session-disk backend with the real components: qemu-storage-daemon (GGnet's, supervised,
 * driven over QMP) serving each session's qcow2 overlay as a FUSE file, GGnet's tgtd serving that file
 * (buffered), QEMU's iSCSI driver (qemu-io, qemu-img) as the initiator over loopback.
 */
describeEachDialect('qcow2 overlays on qemu-storage-daemon (tgtd + qemu iscsi)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let portalPort: number;
  let controlPort: number;
  let img: SeededImage;
  let scratch: string;
  let exportsDir: string;

  beforeAll(async () => {
    ({ t, fs, portalPort, controlPort } = await iscsiTestContext(dialect, {
      storage: { backend: 'qcow2', reserveBytes: 0 },
    }));
    scratch = join(fs.dir, 'scratch');
    mkdirSync(scratch, { recursive: true });
    exportsDir = join(t.config.dataDir, 'exports');
    img = await seedImage(t.container, 'qcow2-img', { sizeMiB: 64, dataMiB: 8 });
  });

  afterAll(() => closeQcow2Context(t, controlPort, fs));

  const start = (machineId: string) =>
    t.container.orchestrator.startSession({ machineId, mode: 'normal', clientIp: '127.0.0.1' });
  const optsOf = (info: Awaited<ReturnType<typeof start>>) =>
    qemuOpts(portalPort, info.targetIqn, 1, {
      initiator: info.initiatorIqn,
      user: info.chap.username,
      password: info.chap.password,
    });

  it('serves an overlay: written through the target, read back, the master unchanged; keep, apply to a new RAW version, discard', async () => {
    const masterSum = await fileSha256(img.file);
    const m = await t.container.machines.create({ name: 'pc-ov', mac: mac(), bootImageId: img.imageId });
    const info = await start(m.id);
    const s = await t.container.sessions.get(info.sessionId);
    const wb = await t.container.repos.writebacks.findById(s.writebackId!);
    expect(wb).toMatchObject({ backend: 'qcow2', state: 'ready', path: `overlays/${wb!.id}.qcow2` });
    const overlay = t.container.imageFiles.inside(wb!.path);
    const exportFile = join(exportsDir, `${wb!.id}.img`);
    // the overlay is a small qcow2 over the master; its FUSE export is the LUN's backing file, O_DIRECT
    const info0 = JSON.parse((await tool('qemu-img', ['info', '-U', '--output=json', overlay])).stdout);
    expect(info0).toMatchObject({
      format: 'qcow2',
      'backing-filename': img.file,
      'virtual-size': img.sizeBytes,
    });
    expect(statSync(overlay).size).toBeLessThan(MiB);
    expect(fuseMounts(exportsDir)).toEqual([exportFile]);
    expect(await t.container.qsd.exports()).toEqual([wb!.id]);
    const shown = await tgtShowTargets(controlPort);
    expect(shown).toContain(`Backing store path: ${exportFile}`);
    // buffered: O_DIRECT on QEMU 7.2's FUSE export mixes up the pieces of one large write (below)
    expect(shown).toMatch(/Backing store path: \S+\.img\s+Backing store flags: \n/);

    // the cache figures count from here (the first sample is the baseline)
    t.container.storage.cache.maxAgeMs = 0;
    await t.container.storage.cache.get();

    const opts = optsOf(info);
    const chunk = randomBytes(MiB);
    const w = await writeThroughIscsi(opts, 40 * MiB, chunk, scratch);
    expect(w.exitCode, w.stderr).toBe(0);
    expect((await readThroughIscsi(opts, 40 * MiB, MiB, scratch)).equals(chunk)).toBe(true);
    // what the client did not write is the master's
    expect((await readThroughIscsi(opts, 0, MiB, scratch)).equals(await readRange(img.file, 0, MiB))).toBe(
      true,
    );
    expect(await fileSha256(img.file)).toBe(masterSum);
    expect(statSync(overlay).size).toBeGreaterThan(MiB);

    // the read cache: the master's page cache holds what the client read, the daemon counted it
    const cache = await t.container.storage.cache.get();
    expect(cache.backend).toBe('qcow2');
    expect(cache.daemon).toMatchObject({ state: 'running' });
    const vc = cache.versions.find((v) => v.versionId === img.versionId)!;
    expect(vc).toMatchObject({ imageName: 'qcow2-img', disks: 1 });
    expect(vc.masterCacheBytes).toBeGreaterThan(0);
    expect(vc.cacheBytes).toBeGreaterThanOrEqual(vc.masterCacheBytes!);
    // two whole-LUN reads (qemu-img convert) of 64 MiB went through the daemon: only the master's
    // 8 MiB of data (and the overlay) can have come from disk
    expect(cache.readBytes).toBeGreaterThanOrEqual(MiB);
    expect(cache.diskReadBytes).toBeLessThanOrEqual(cache.readBytes!);
    expect(cache.hitRate).toBeGreaterThanOrEqual(0);
    expect(cache.hitRate).toBeLessThanOrEqual(1);
    const scraped = await t.container.metrics.registry.metrics();
    expect(scraped).toMatch(/ggnet_version_cache_bytes\{image="qcow2-img",version="1"\} [1-9]/);
    expect(scraped).toMatch(/ggnet_storage_cache_hit_ratio [0-9.]+/);

    // keep: the target and the export go, the overlay stays
    await t.container.sessions.stop(info.sessionId, { keepWriteback: true });
    expect((await t.container.repos.writebacks.findById(wb!.id))?.state).toBe('kept');
    expect(await t.container.qsd.exports()).toEqual([]);
    expect(fuseMounts(exportsDir)).toEqual([]);
    expect(existsSync(overlay)).toBe(true);

    // apply: overlay + master converted into a new RAW version; the master is byte-identical
    const v2 = await t.container.storage.apply(wb!.id, { comment: 'qcow2 apply', publish: true }, null);
    const v2row = await t.container.repos.images.findVersion(img.imageId, v2.id);
    const v2file = t.container.imageFiles.inside(v2row!.path!);
    expect(v2file).not.toBe(img.file);
    const v2info = JSON.parse((await tool('qemu-img', ['info', '--output=json', v2file])).stdout);
    expect(v2info).toMatchObject({ format: 'raw', 'virtual-size': img.sizeBytes });
    expect((await readRange(v2file, 40 * MiB, MiB)).equals(chunk)).toBe(true);
    expect((await readRange(v2file, 0, 8 * MiB)).equals(await readRange(img.file, 0, 8 * MiB))).toBe(true);
    expect(await fileSha256(img.file)).toBe(masterSum);
    expect(await t.container.repos.writebacks.findById(wb!.id)).toMatchObject({
      state: 'discarded',
      applied_version_id: v2.id,
    });
    expect(existsSync(overlay)).toBe(false);

    // the next boot runs on the new version; stopping it without keep discards the overlay
    const info2 = await start(m.id);
    const s2 = await t.container.sessions.get(info2.sessionId);
    const wb2 = await t.container.repos.writebacks.findById(s2.writebackId!);
    expect(wb2).toMatchObject({ backend: 'qcow2', version_id: v2.id });
    expect((await readThroughIscsi(optsOf(info2), 40 * MiB, MiB, scratch)).equals(chunk)).toBe(true);
    await t.container.sessions.stop(info2.sessionId, {});
    await t.container.storage.idle();
    expect((await t.container.repos.writebacks.findById(wb2!.id))?.state).toBe('discarded');
    expect(existsSync(t.container.imageFiles.inside(wb2!.path))).toBe(false);
    expect(existsSync(join(exportsDir, `${wb2!.id}.img`))).toBe(false);
    expect(await t.container.qsd.exports()).toEqual([]);
    expect(await fileSha256(img.file)).toBe(masterSum);
  });

  it('large writes land whole: 4 MiB in one request (an installer writing its disk) read back byte for byte', async () => {
    // with tgt's O_DIRECT on the FUSE export, QEMU 7.2 wrote the last MiB of such a write into all four
    const m = await t.container.machines.create({ name: 'pc-big', mac: mac(), bootImageId: img.imageId });
    const info = await start(m.id);
    const opts = optsOf(info);
    const data = randomBytes(4 * MiB);
    const w = await writeThroughIscsi(opts, 0, data, scratch);
    expect(w.exitCode, w.stderr).toBe(0);
    const back = await readThroughIscsi(opts, 0, 4 * MiB, scratch);
    expect(back.findIndex((b, i) => b !== data[i])).toBe(-1);
    // and on the server: the overlay holds them, over the master
    const wb = (await t.container.repos.writebacks.bySession(info.sessionId))[0]!;
    const raw = join(scratch, 'big.raw');
    await tool('qemu-img', [
      'convert',
      '-U',
      '-f',
      'qcow2',
      '-O',
      'raw',
      t.container.imageFiles.inside(wb.path),
      raw,
    ]);
    expect((await readRange(raw, 0, 4 * MiB)).equals(data)).toBe(true);
    await t.container.sessions.stop(info.sessionId, {});
  });

  it('a GGnet restart adopts the daemon and the session keeps working; a daemon crash is repaired (exports and LUNs again)', async () => {
    const m = await t.container.machines.create({ name: 'pc-ov-rs', mac: mac(), bootImageId: img.imageId });
    const info = await start(m.id);
    const q = new QemuIoSession(optsOf(info));
    try {
      await q.cmd('write -P 0x5a 8M 64k', /wrote 65536\/65536/);
      const pid = t.container.qsd.status().pid;
      expect(pid).toBeGreaterThan(0);

      // "GGnet stops": the supervisor lets go, the daemon (and its exports) stays
      await t.container.qsd.stop(false);
      expect(alivePid(join(t.config.dataDir, 'run', 'qemu-storage-daemon.pid'))).toBe(pid);
      await q.cmd('read -P 0x5a 8M 64k', /read 65536\/65536/);

      // "GGnet starts": a new container on the same data dir and database adopts it
      const c2 = createContainer(t.config, { log: pino({ level: 'silent' }) });
      try {
        await c2.storage.startDaemons();
        expect(c2.qsd.status()).toMatchObject({ pid, adopted: true, state: 'running' });
        const rep = await c2.reconciler.run('start-up');
        expect(rep.errors).toEqual([]);
        expect(rep.exportsRecreated).toBe(0);
        await q.cmd('write -P 0x6b 9M 64k', /wrote 65536\/65536/);
        await q.cmd('read -P 0x5a 8M 64k', /read 65536\/65536/);

        // the daemon dies: its supervisor starts a new one, the reconciler exports the disk again and
        // re-adds the LUN; the same initiator session reads its data again
        const restarted = new Promise<void>((resolve) => c2.qsd.onRestart(resolve));
        process.kill(pid!, 'SIGKILL');
        await restarted;
        const rep2 = await c2.reconciler.run('qsd restarted');
        expect(rep2.errors).toEqual([]);
        expect(rep2.exportsRecreated).toBe(1);
        await q.cmdUntil('read -P 0x6b 9M 64k', /read 65536\/65536/);
        await q.cmd('read -P 0x5a 8M 64k', /read 65536\/65536/);
      } finally {
        await c2.qsd.stop(false);
        await c2.database.close?.();
      }
    } finally {
      await q.close();
    }
    await t.container.qsd.ensureRunning();
    await t.container.sessions.stop(info.sessionId, {});
    await t.container.storage.idle();
    expect(await t.container.qsd.exports()).toEqual([]);
  });

  it('a daemon run by its own unit (qsdSocket, as ggnet-storage.service runs it): used, never started by GGnet; a restart of it is seen by its pid and repaired', async () => {
    // the shipped unit's command line, with its runtime directory moved into the test's
    const unit = readFileSync(
      join(import.meta.dirname, '../../../../deploy/systemd/ggnet-storage.service'),
      'utf8',
    );
    const execStart = /^ExecStart=(\S+) (.*)$/m.exec(unit);
    expect(execStart).not.toBeNull();
    const runDir = join(fs.dir, 'unit-run');
    mkdirSync(runDir, { recursive: true, mode: 0o750 });
    const args = execStart![2]!.replaceAll('/run/ggnet-storage', runDir).split(' ');
    const pids: number[] = [];
    const startUnitDaemon = async () => {
      const child = spawn(execStart![1]!, args, { stdio: 'ignore' });
      pids.push(child.pid!);
      const until = Date.now() + 10_000;
      while (!existsSync(join(runDir, 'qmp.sock')) || alivePid(join(runDir, 'qsd.pid')) !== child.pid) {
        if (Date.now() > until) throw new Error('the unit daemon did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      return child.pid;
    };
    // GGnet's own (supervised) daemon of the tests above is stopped: only the unit's runs
    await t.container.qsd.stop(true);
    const ownPidFile = join(t.config.dataDir, 'run', 'qemu-storage-daemon.pid');
    const pid1 = await startUnitDaemon();
    const unitConfig = { ...t.config, qsdSocket: join(runDir, 'qmp.sock') };
    const c2 = createContainer(unitConfig, { log: pino({ level: 'silent' }) });
    // ggnet doctor asks it too
    expect(await storageDaemonCheck(unitConfig)).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/QEMU \d+\.\d+/),
    });
    let q: QemuIoSession | null = null;
    try {
      await c2.storage.startDaemons();
      expect(c2.qsd.status()).toMatchObject({ pid: pid1, state: 'running' });
      const m = await c2.machines.create({ name: 'pc-ov-unit', mac: mac(), bootImageId: img.imageId });
      const info = await c2.orchestrator.startSession({
        machineId: m.id,
        mode: 'normal',
        clientIp: '127.0.0.1',
      });
      q = new QemuIoSession(optsOf(info));
      await q.cmd('write -P 0x4e 8M 64k', /wrote 65536\/65536/);
      expect(await c2.qsd.exports()).toHaveLength(1);
      // systemd restarts the daemon (after a crash); its ExecStartPre unmounts the dead exports
      const restarted = new Promise<void>((resolve) => c2.qsd.onRestart(resolve));
      await killPid(pid1);
      for (const mnt of fuseMounts(exportsDir)) await tool('umount', ['-l', mnt]);
      const pid2 = await startUnitDaemon();
      await restarted;
      expect(c2.qsd.status()).toMatchObject({ pid: pid2, restarts: 1, state: 'running' });
      const rep = await c2.reconciler.run('qsd restarted');
      expect(rep.errors).toEqual([]);
      expect(rep.exportsRecreated).toBe(1);
      await q.cmdUntil('read -P 0x4e 8M 64k', /read 65536\/65536/);
      // GGnet never started a daemon of its own
      expect(existsSync(ownPidFile) && alivePid(ownPidFile)).toBeFalsy();
      await q.close();
      q = null;
      await c2.sessions.stop(info.sessionId, {});
      await c2.storage.idle();
      expect(await c2.qsd.exports()).toEqual([]);
      expect(fuseMounts(exportsDir)).toEqual([]);
    } finally {
      await q?.close();
      await c2.qsd.stop(false);
      await c2.database.close?.();
      for (const p of pids) await killPid(p);
      for (const mnt of fuseMounts(exportsDir)) await tool('umount', ['-l', mnt]);
    }
    expect(await storageDaemonCheck(unitConfig)).toMatchObject({ status: 'warn' });
  });
});
