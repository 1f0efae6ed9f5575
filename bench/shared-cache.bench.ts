/**
 * One read cache per version? N sessions of one version read the same working set through their
 * iSCSI targets at the same time, cold, on two storage paths side by side in the same run:
 *
 *   a  today: GGnet's SessionOrchestrator, one reflink writeback per session (a file of its own, so a
 *      page cache of its own), LUN backed by the writeback (tgt's default buffered `rdwr`);
 *   b  the hand-made path it was chosen by: one qcow2 overlay per session over the read-only master
 *      (`qemu-img create -f qcow2 -b MASTER -F raw`), served by qemu-storage-daemon (one per session, or
 *      one for all) as a FUSE export file, that file the LUN's backing file (`--bsoflags direct`),
 *      targets made by hand with tgtadm in GGnet's own tgtd;
 *   c  GGnet's own qcow2 backend (`storage.backend = qcow2`): the same design through the
 *      SessionOrchestrator, i.e. what a boot gets: GGnet's qemu-storage-daemon (one for all sessions,
 *      driven over QMP), overlay + export + target with ACL and CHAP per session.
 *
 * Measured per path: bytes read from the data disk (the loop device's read sectors,
 * /sys/block/loopN/stat), page cache grown (fincore on every file of the path, and /proc/meminfo
 * Cached for the whole machine), per-client and aggregate MB/s (qemu-img bench with QEMU's libiscsi
 * driver, 1 MiB x qd16, one process per session, all at once), and the CPU time of the server's
 * daemons (tgtd, qemu-storage-daemon). "Cold" means `sync; echo 3 > /proc/sys/vm/drop_caches` before
 * each path: that drops the whole machine's clean page cache, not just ours.
 *
 *   npm run bench:shared-cache -- [--sessions 8,32] [--size-gib 2] [--data-mib 1024]
 *     [--qsd per-session|shared] [--bsoflags direct|buffered] [--paths a,b,c] [--dir /var/tmp]   (as root)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Procs, waitFor } from '@ggnet/testkit';
import { benchContainer, loopXfs, onInterrupt, randomMac, seedVersion, sh, table } from './iscsi-lib.js';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '8' },
    'size-gib': { type: 'string', default: '2' },
    'data-mib': { type: 'string', default: '1024' },
    qsd: { type: 'string', default: 'per-session' },
    bsoflags: { type: 'string', default: 'direct' },
    dir: { type: 'string', default: '/var/tmp' },
    paths: { type: 'string', default: 'a,b,c' },
  },
});
const PATHS = new Set(values.paths.split(','));
if (![...PATHS].every((p) => ['a', 'b', 'c'].includes(p)) || !PATHS.has('a'))
  throw new Error('--paths: a (the baseline) and any of b, c, e.g. a,c');
const SESSIONS = values.sessions.split(',').map(Number);
const SIZE_GIB = Number(values['size-gib']);
const DATA_MIB = Number(values['data-mib']);
const QSD = values.qsd;
const BSOFLAGS = values.bsoflags;
if (SESSIONS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sessions: e.g. 8 or 8,32');
if (!(SIZE_GIB > 0) || !(DATA_MIB > 0) || DATA_MIB > SIZE_GIB * 1024)
  throw new Error('--size-gib > 0, 0 < --data-mib <= size');
if (QSD !== 'per-session' && QSD !== 'shared') throw new Error('--qsd per-session|shared');
if (BSOFLAGS !== 'direct' && BSOFLAGS !== 'buffered') throw new Error('--bsoflags direct|buffered');

const MiB = 1024 ** 2;
const WS = DATA_MIB * MiB; // the working set: what every client reads
const HZ = 100; // USER_HZ of /proc/PID/stat on Linux

/** Everything the bench starts beyond the container, so that an interrupt can undo it in order. */
const live = { tgt: 0, tids: new Set<number>(), procs: new Procs(), mounts: new Set<string>() };

/** GGnet's own cache figures (GET /api/v1/storage/cache). */
type StorageCache = Awaited<
  ReturnType<Awaited<ReturnType<typeof benchContainer>>['c']['storage']['cache']['get']>
>;

const tgtadm = (args: string[]) => sh('tgtadm', ['-C', String(live.tgt), '--lld', 'iscsi', ...args]);

function mountedPaths(): Set<string> {
  return new Set(
    readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? ''),
  );
}

/** Path b's targets, its daemons (by PID), then any FUSE mount a daemon left behind. */
async function undoPathB(): Promise<void> {
  for (const tid of live.tids) {
    await tgtadm(['--op', 'delete', '--mode', 'target', '--force', '--tid', String(tid)]).catch(
      () => undefined,
    );
  }
  live.tids.clear();
  await live.procs.stopAll();
  const m = mountedPaths();
  for (const p of live.mounts) if (m.has(p)) await sh('umount', ['-l', p]).catch(() => undefined);
  live.mounts.clear();
}

function dropCaches(): Promise<void> {
  return sh('sync', []).then(() => writeFileSync('/proc/sys/vm/drop_caches', '3'));
}

/** Sectors (512 B) read by a block device since boot: field 3 of /sys/block/<dev>/stat. */
const readSectors = (dev: string) =>
  Number(readFileSync(`/sys/block/${dev}/stat`, 'utf8').trim().split(/\s+/)[2]);

const meminfoCached = () =>
  Number(/^Cached:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;

/** CPU seconds (user + system) a process has used. */
function cpuSecs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / HZ; // fields 14 and 15 (utime, stime)
  } catch {
    return 0;
  }
}

/** Bytes of each file in the page cache (fincore); null when fincore cannot tell for a file. */
async function resident(files: string[]): Promise<number | null> {
  let sum = 0;
  for (const f of files) {
    const out = await sh('fincore', ['--bytes', '--noheadings', '--output', 'RES', f]).catch(() => null);
    if (out === null) return null;
    sum += Number(out.trim());
  }
  return sum;
}

interface Client {
  iqn: string;
  opts: string;
}

interface PathResult {
  path: string;
  n: number;
  diskBytes: number;
  cacheBytes: number | null;
  cacheDetail: string;
  meminfoBytes: number;
  perClient: number[]; // MB/s
  aggregate: number; // MB/s
  cpu: number; // server seconds
  setupMs: number; // median per session
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** All clients read the first DATA_MIB of their LUN at the same moment; per-client MB/s from qemu-img. */
async function readAll(clients: Client[]): Promise<{ perClient: number[]; aggregate: number }> {
  const t0 = performance.now();
  const secs = await Promise.all(
    clients.map(async (cl) => {
      const out = await sh('qemu-img', [
        'bench',
        '-c',
        String(DATA_MIB),
        '-s',
        '1M',
        '-d',
        '16',
        '--image-opts',
        cl.opts,
      ]);
      const s = Number(/Run completed in ([\d.]+) seconds/.exec(out)?.[1]);
      if (!s) throw new Error(`qemu-img bench: ${out}`);
      return s;
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  return { perClient: secs.map((s) => WS / s / 1e6), aggregate: (clients.length * WS) / wall / 1e6 };
}

function iscsiOpts(
  port: number,
  target: string,
  initiator: string,
  chap?: { username: string; password: string },
) {
  return [
    'driver=iscsi',
    'transport=tcp',
    `portal=127.0.0.1:${port}`,
    `target=${target}`,
    'lun=1',
    `initiator-name=${initiator}`,
    ...(chap ? [`user=${chap.username}`, `password=${chap.password}`] : []),
  ].join(',');
}

/** The LUN serves exactly the master's bytes (a bench that read zeros fast would prove nothing). */
async function sameAsMaster(master: string, cl: Client): Promise<void> {
  await sh('qemu-img', ['compare', '--image-opts', `driver=raw,file.filename=${master}`, cl.opts]);
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root (loop mount, tgtd, FUSE, drop_caches)');
  const maxN = Math.max(...SESSIONS);
  const fs = await loopXfs(SIZE_GIB + 4, values.dir);
  let bench: Awaited<ReturnType<typeof benchContainer>> | null = null;
  let cleaning: Promise<void> | null = null;
  // once, whether the run ends or is interrupted: path b's targets and daemons, GGnet's tgtd, the loop fs
  const cleanup = () =>
    (cleaning ??= (async () => {
      await undoPathB().catch(() => undefined);
      await bench?.close().catch(() => undefined);
      await fs.cleanup();
    })());
  onInterrupt(cleanup);
  try {
    bench = await benchContainer(join(fs.dir, 'data'));
    const { c, portalPort, controlPort } = bench;
    live.tgt = controlPort;
    const tgtdPid = c.iscsi.daemonPid;
    if (!tgtdPid) throw new Error('GGnet tgtd has no PID');
    const loopDev = (await sh('findmnt', ['-n', '-o', 'SOURCE', '--target', fs.dir]))
      .trim()
      .replace('/dev/', '');
    if (!/^loop\d+$/.test(loopDev)) throw new Error(`data disk is not a loop device: ${loopDev}`);
    // direct I/O on the loop device: no second copy of the data in the host's cache of its backing file
    await sh('losetup', ['--direct-io=on', `/dev/${loopDev}`]).catch(() => undefined);
    const dio = (await sh('losetup', ['-n', '-O', 'DIO', '-l', `/dev/${loopDev}`])).trim();

    const v = await seedVersion(c, 'shared-cache', {
      sizeGiB: SIZE_GIB,
      chunkMiB: 16,
      everyMiB: 16,
      dataMiB: DATA_MIB,
    });
    const machines: Array<{ id: string }> = [];
    for (let i = 0; i < maxN; i++)
      machines.push(
        await c.machines.create({ name: `cache-pc-${i}`, mac: randomMac(), bootImageId: v.imageId }),
      );
    const work = join(fs.dir, 'cache-bench');
    mkdirSync(work, { recursive: true });
    process.stdout.write(
      `version: ${SIZE_GIB} GiB virtual, ${DATA_MIB} MiB written (${v.extents} extents); each client reads the first ${DATA_MIB} MiB\n` +
        `data disk: XFS (reflink=1) on /dev/${loopDev} (direct I/O ${dio === '1' ? 'on' : 'off'}); ${cpus().length} cores, load ${loadavg()
          .map((x) => x.toFixed(1))
          .join(' ')}\n` +
        `path b: qemu-storage-daemon ${QSD}, tgt --bsoflags ${BSOFLAGS}; cold = sync + echo 3 > /proc/sys/vm/drop_caches (whole machine)\n\n`,
    );

    /** Cold read by every client, with the counters around it; then the LUN is checked against the master. */
    async function measure(
      path: string,
      clients: Client[],
      groups: Record<string, string[]>,
      pids: number[],
      setupMs: number,
      ggnetCache?: () => Promise<StorageCache>,
    ): Promise<PathResult> {
      const files = Object.values(groups).flat();
      await dropCaches();
      await ggnetCache?.();
      const before = await resident(files);
      const s0 = readSectors(loopDev);
      const m0 = meminfoCached();
      const cpu0 = pids.reduce((a, p) => a + cpuSecs(p), 0);
      const { perClient, aggregate } = await readAll(clients);
      const cpu = pids.reduce((a, p) => a + cpuSecs(p), 0) - cpu0;
      const diskBytes = (readSectors(loopDev) - s0) * 512;
      const meminfoBytes = meminfoCached() - m0;
      const after = await resident(files);
      const detail: string[] = [];
      for (const [name, fl] of Object.entries(groups)) {
        const r = await resident(fl);
        detail.push(`${name} ${r === null ? '?' : fmtMiB(r)}`);
      }
      const g = await ggnetCache?.();
      const gv = g?.versions.find((x) => x.versionId === v.versionId);
      if (g)
        detail.push(
          `GGnet's figures: master cache ${gv?.masterCacheBytes == null ? '?' : fmtMiB(gv.masterCacheBytes)}, version cache ${gv?.cacheBytes == null ? '?' : fmtMiB(gv.cacheBytes)}, daemon read ${g.readBytes === null ? '?' : fmtMiB(g.readBytes)} of which from disk ${g.diskReadBytes === null ? '?' : fmtMiB(g.diskReadBytes)}, hit rate ${g.hitRate === null ? '?' : `${(g.hitRate * 100).toFixed(1)}%`}`,
        );
      await sameAsMaster(v.file, clients[0]!);
      return {
        path,
        n: clients.length,
        diskBytes,
        cacheBytes: before === null || after === null ? null : after - before,
        cacheDetail: detail.join(', '),
        meminfoBytes,
        perClient,
        aggregate,
        cpu,
        setupMs,
      };
    }

    /** c: GGnet's qcow2 backend, sessions started by the orchestrator like a boot. */
    async function pathC(n: number): Promise<PathResult> {
      await c.settings.update({ storage: { backend: 'qcow2' } }, null);
      const started = [];
      const setup: number[] = [];
      for (const m of machines.slice(0, n)) {
        const t = performance.now();
        started.push(await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null }));
        setup.push(performance.now() - t);
      }
      const overlays: string[] = [];
      for (const info of started) {
        const s = await c.sessions.get(info.sessionId);
        const wb = await c.repos.writebacks.findById(s.writebackId!);
        if (wb?.backend !== 'qcow2') throw new Error(`path c made a ${wb?.backend} disk`);
        overlays.push(c.imageFiles.inside(wb.path));
      }
      const qsdPid = c.qsd.status().pid;
      if (!qsdPid) throw new Error('GGnet qemu-storage-daemon has no PID');
      c.storage.cache.maxAgeMs = 0;
      const qv = await c.qsd.version();
      // how GGnet's tgtd opens the export (O_DIRECT from QEMU 10 on: OverlayWritebackStorage.lunFlags)
      const lun = qv && qv.major >= 10 ? 'direct' : 'buffered';
      const r = await measure(
        `c: GGnet's qcow2 backend (orchestrator, one qemu-storage-daemon ${qv ? `${qv.major}.${qv.minor}.${qv.micro}` : '?'}, FUSE, tgt ${lun})`,
        started.map((i) => ({
          iqn: i.initiatorIqn,
          opts: iscsiOpts(portalPort, i.targetIqn, i.initiatorIqn, i.chap),
        })),
        { master: [v.file], overlays },
        [tgtdPid!, qsdPid],
        median(setup),
        // GGnet's own figures around the reads: its baseline is taken after the cache was dropped
        () => c.storage.cache.get(),
      );
      for (const i of started) await c.sessions.stop(i.sessionId);
      await c.storage.idle();
      await c.settings.update({ storage: { backend: null } }, null);
      return r;
    }

    const results: PathResult[] = [];
    for (const n of SESSIONS) {
      // ---- a: today's path through GGnet's orchestrator
      const started = [];
      const setupA: number[] = [];
      for (const m of machines.slice(0, n)) {
        const t = performance.now();
        started.push(await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null }));
        setupA.push(performance.now() - t);
      }
      const wbFiles: string[] = [];
      const backends = new Set<string>();
      for (const info of started) {
        const s = await c.sessions.get(info.sessionId);
        const wb = await c.repos.writebacks.findById(s.writebackId!);
        wbFiles.push(c.imageFiles.inside(wb!.path));
        backends.add(wb!.backend);
      }
      const a = await measure(
        `a: ${[...backends].join('/')} writeback per session (GGnet today)`,
        started.map((i) => ({
          iqn: i.initiatorIqn,
          opts: iscsiOpts(portalPort, i.targetIqn, i.initiatorIqn, i.chap),
        })),
        { master: [v.file], writebacks: wbFiles },
        [tgtdPid],
        median(setupA),
      );
      results.push(a);
      for (const i of started) await c.sessions.stop(i.sessionId);
      await c.storage.idle();

      if (PATHS.has('c')) results.push(await pathC(n));
      if (!PATHS.has('b')) continue;
      // ---- b: qcow2 overlay per session, qemu-storage-daemon FUSE export, hand-made target
      const tag = randomBytes(3).toString('hex');
      const ovs = Array.from({ length: n }, (_, i) => ({
        ov: join(work, `ov-${tag}-${i}.qcow2`),
        exp: join(work, `exp-${tag}-${i}.raw`),
        tid: 60000 + i,
        iqn: `iqn.2026-12.test.ggnet:cache-bench-${tag}-${i}`,
        initiator: `iqn.2026-12.test.ggnet:cache-client-${tag}-${i}`,
      }));
      const masterNodes = [
        '--blockdev',
        `driver=file,node-name=mfile,filename=${v.file},read-only=on,cache.direct=off`,
        '--blockdev',
        'driver=raw,node-name=master,file=mfile,read-only=on',
      ];
      const overlayNodes = (o: (typeof ovs)[number], i: number) => [
        '--blockdev',
        `driver=file,node-name=ovf${i},filename=${o.ov},cache.direct=off`,
        '--blockdev',
        `driver=qcow2,node-name=ov${i},file=ovf${i},backing=master`,
        '--export',
        `type=fuse,id=e${i},node-name=ov${i},mountpoint=${o.exp},writable=on`,
      ];
      const setupB: number[] = [];
      const t0 = performance.now();
      const makeOverlay = async (o: (typeof ovs)[number]) => {
        await sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', v.file, '-F', 'raw', o.ov]);
        writeFileSync(o.exp, ''); // a FUSE export mounts over an existing regular file
        live.mounts.add(o.exp);
      };
      const start = (name: string, args: string[]) =>
        live.procs.start(name, 'qemu-storage-daemon', args, { logFile: join(work, `${name}.log`) });
      const qsdPids: number[] = [];
      if (QSD === 'shared') {
        for (const o of ovs) await makeOverlay(o);
        qsdPids.push(start(`qsd-${tag}`, [...masterNodes, ...ovs.flatMap(overlayNodes)]).pid);
      }
      for (const [i, o] of ovs.entries()) {
        const t = performance.now();
        if (QSD === 'per-session') {
          await makeOverlay(o);
          qsdPids.push(start(`qsd-${tag}-${i}`, [...masterNodes, ...overlayNodes(o, i)]).pid);
        }
        await waitFor(`FUSE export ${o.exp}`, () => mountedPaths().has(o.exp), 20_000, 10);
        await tgtadm(['--op', 'new', '--mode', 'target', '--tid', String(o.tid), '-T', o.iqn]);
        live.tids.add(o.tid);
        const lun = [
          '--op',
          'new',
          '--mode',
          'logicalunit',
          '--tid',
          String(o.tid),
          '--lun',
          '1',
          '-b',
          o.exp,
        ];
        await tgtadm(BSOFLAGS === 'direct' ? [...lun, '--bsoflags', 'direct'] : lun);
        await tgtadm(['--op', 'bind', '--mode', 'target', '--tid', String(o.tid), '-I', '127.0.0.1']);
        setupB.push(performance.now() - t);
      }
      const setupTotalB = performance.now() - t0;
      const b = await measure(
        `b: qcow2 overlay + qemu-storage-daemon (${QSD}) FUSE, tgt ${BSOFLAGS}`,
        ovs.map((o) => ({ iqn: o.initiator, opts: iscsiOpts(portalPort, o.iqn, o.initiator) })),
        // not the FUSE files: opening one drops its page cache (FUSE without keep_cache), so fincore
        // cannot see what tgt may hold there; /proc/meminfo's Cached does
        { master: [v.file], overlays: ovs.map((o) => o.ov) },
        [tgtdPid, ...qsdPids],
        QSD === 'shared' ? setupTotalB / n : median(setupB),
      );
      results.push(b);
      await undoPathB();
      for (const o of ovs) {
        rmSync(o.ov, { force: true });
        rmSync(o.exp, { force: true });
      }
    }
    report(results);
  } finally {
    await cleanup();
  }
}

const fmtMiB = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const x = (b: number) => `${(b / WS).toFixed(2)}x`;

function report(results: PathResult[]): void {
  process.stdout.write(
    `${table(
      results.map((r) => {
        const pc = [...r.perClient].sort((p, q) => p - q);
        return {
          sessions: r.n,
          path: r.path,
          'disk read': `${fmtMiB(r.diskBytes)} (${x(r.diskBytes)})`,
          'page cache (fincore)':
            r.cacheBytes === null ? '?' : `${fmtMiB(r.cacheBytes)} (${x(r.cacheBytes)})`,
          'meminfo Cached': `${fmtMiB(r.meminfoBytes)} (${x(r.meminfoBytes)})`,
          'client MB/s p50 (min-max)': `${median(pc).toFixed(0)} (${pc[0]!.toFixed(0)}-${pc.at(-1)!.toFixed(0)})`,
          'aggregate MB/s': r.aggregate.toFixed(0),
          'server CPU s/GiB': (r.cpu / ((r.n * WS) / 1024 ** 3)).toFixed(2),
          'setup ms/session': r.setupMs.toFixed(1),
        };
      }),
    )}\n\n`,
  );
  for (const r of results) process.stdout.write(`  ${r.n} x ${r.path}: page cache = ${r.cacheDetail}\n`);
  process.stdout.write(
    `\nratios against the working set (${fmtMiB(WS)}, read by every client); goal for b and c <= 1.2x:\n`,
  );
  for (const n of new Set(results.map((r) => r.n))) {
    const [a, ...others] = results.filter((r) => r.n === n);
    for (const b of others) {
      const k = b.path.slice(0, 1);
      process.stdout.write(
        `  ${n} sessions: disk read a ${x(a!.diskBytes)}, ${k} ${x(b.diskBytes)}; page cache a ${a!.cacheBytes === null ? '?' : x(a!.cacheBytes)}, ${k} ${
          b.cacheBytes === null ? '?' : x(b.cacheBytes)
        }; aggregate MB/s ${k} / a = ${(b.aggregate / a!.aggregate).toFixed(2)}\n`,
      );
    }
  }
  process.stdout.write(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
