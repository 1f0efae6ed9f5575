/**
 * Sequential read through the iSCSI target (GGnet's tgtd, a session's writeback over loopback) vs a
 * local read of the same file, same tool (qemu-img bench, 1 MiB requests, queue depth 16), same run;
 * plus libiscsi's iscsi-perf for a second opinion. The file is in the page cache for both (warmed
 * first), so the figures compare the iSCSI path (tgtd + TCP + initiator) with a plain read.
 *
 * Then many clients at once (--clients 4,8,16), each its own session (machine, target) reading its
 * whole writeback through its target with qemu-img bench, all started together: on 1 tgtd vs on
 * --daemons tgtd instances (default one per core), and a loopback TCP stream of the same bytes with
 * as many parallel streams (iperf3) as the transport's ceiling, in the same run. Aggregate MB/s =
 * all bytes / wall time from the first start to the last end. The first GGnet of that part starts its
 * tgtd as Debian ships it (config tgtdTuning = false: glibc's malloc defaults, a fresh mmap per
 * command; targets that take 8 KiB write PDUs) as the baseline for the tgtd that GGnet runs today
 * (--skip-before leaves it out). --write: the clients write their whole writeback instead (1 MiB
 * requests, queue depth 16), the same comparison for the write path.
 *
 *   npm run bench:iscsi-read -- [--size-gib 1] [--reps 5] [--dir /var/tmp]
 *                               [--clients 4,8,16] [--daemons N] [--client-mib 256]
 *                               [--skip-single] [--skip-before] [--write]   (as root)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { freePort, iscsiPerf, killPid } from '@ggnet/testkit';
import { benchOnXfs, randomMac, seedVersion, sh, table } from './iscsi-lib.js';

const { values } = parseArgs({
  options: {
    'size-gib': { type: 'string', default: '1' },
    reps: { type: 'string', default: '5' },
    dir: { type: 'string', default: '/var/tmp' },
    clients: { type: 'string', default: '4,8,16' },
    daemons: { type: 'string', default: String(availableParallelism()) },
    'client-mib': { type: 'string', default: '256' },
    'skip-single': { type: 'boolean', default: false },
    'skip-before': { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
  },
});
const CLIENTS = values.clients.split(',').map(Number);
const DAEMONS = Number(values.daemons);
const CLIENT_MIB = Number(values['client-mib']);
const SIZE_GIB = Number(values['size-gib']);
const REPS = Number(values.reps);
const MiB = 1024 ** 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function qemuBench(args: string[], count: number): Promise<number> {
  const out = await sh('qemu-img', ['bench', '-c', String(count), '-s', '1M', '-d', '16', ...args]);
  const secs = Number(/Run completed in ([\d.]+) seconds/.exec(out)?.[1]);
  if (!secs) throw new Error(`qemu-img bench: ${out}`);
  return (count * MiB) / secs / 1e6; // MB/s
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const HZ = 100;
/** Fields of /proc/<pid>/stat after the command name (field 3, state, is index 0). */
const statFields = (pid: number | 'self') =>
  readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.trim().split(' ').map(Number);
/** CPU seconds of this process's reaped children (cutime + cstime): the qemu-img clients. */
const childrenCpu = () => {
  const f = statFields('self');
  return (f[13]! + f[14]!) / HZ;
};
/** CPU seconds of a live process (utime + stime). */
const pidCpu = (pid: number) => {
  try {
    const f = statFields(pid);
    return (f[11]! + f[12]!) / HZ;
  } catch {
    return 0;
  }
};
/** All cores: [busy, total] ticks from /proc/stat (busy = total - idle - iowait). */
const machineTicks = (): [number, number] => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return [total - f[3]! - f[4]!, total];
};

/** What the cores did during a run: busy share of all cores, CPU seconds of clients and of the target daemons. */
interface CpuSplit {
  busy: number;
  clients: number;
  daemons: number;
}

/** Seconds of wall time for `n` qemu-img bench readers started together, and where the CPU went. */
async function together(
  optsList: string[],
  count: number,
  daemonPids: number[] = [],
): Promise<{ secs: number; cpu: CpuSplit }> {
  const [b0, t0m] = machineTicks();
  const c0 = childrenCpu();
  const d0 = daemonPids.reduce((a, p) => a + pidCpu(p), 0);
  const t0 = process.hrtime.bigint();
  const w = values.write ? ['-w'] : [];
  await Promise.all(optsList.map((o) => qemuBench([...w, '--image-opts', o], count)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const [b1, t1m] = machineTicks();
  return {
    secs,
    cpu: {
      busy: (b1 - b0) / Math.max(1, t1m - t0m),
      clients: childrenCpu() - c0,
      daemons: daemonPids.reduce((a, p) => a + pidCpu(p), 0) - d0,
    },
  };
}

/** Loopback TCP: `streams` parallel iperf3 streams carrying `bytes` in all; MB/s received. */
async function tcpCeiling(streams: number, bytes: number): Promise<number> {
  const port = await freePort();
  const server = spawn('iperf3', ['-s', '-1', '-B', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 50; i++) {
      try {
        const out = await sh('iperf3', [
          '-c',
          '127.0.0.1',
          '-p',
          String(port),
          '-P',
          String(streams),
          '-n',
          String(bytes),
          '-l',
          '1M',
          '-J',
        ]);
        // iperf3 3.12 with -J exits 0 when it cannot connect: the JSON's `error` says so
        const j = JSON.parse(out) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
        if (j.error) throw new Error(`iperf3: ${j.error}`);
        if (!j.end?.sum_received) throw new Error(`iperf3: no sum_received in ${out.slice(0, 400)}`);
        return j.end.sum_received.bits_per_second / 8 / 1e6;
      } catch (err) {
        if (!/Connection refused|unable to connect/i.test(String(err)) || i === 49) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error('iperf3 server did not start');
  } finally {
    if (server.pid && server.exitCode === null) await killPid(server.pid, 2000);
  }
}

interface ConcurrentRow {
  clients: number;
  daemons: number;
  mbps: number;
  spread: string;
  /** Of the run with the median MB/s. */
  cpu: CpuSplit;
}

/**
 * `clients` sessions on a GGnet with `daemons` tgtd instances, each read in full, all at once.
 * tuned false: tgtd as Debian ships it (config tgtdTuning), as before.
 */
async function concurrent(daemons: number, counts: number[], tuned = true): Promise<ConcurrentRow[]> {
  const max = Math.max(...counts);
  // writing clients unshare their reflink clones: room for all of them
  const gib = Math.ceil((CLIENT_MIB * (values.write ? max + 1 : 2)) / 1024) + 2;
  const bench = await benchOnXfs(gib, values.dir, daemons, tuned);
  const { c } = bench;
  try {
    const v = await seedVersion(c, `multi-read-${daemons}${tuned ? '' : '-debian'}`, {
      sizeGiB: CLIENT_MIB / 1024,
      chunkMiB: 16,
      everyMiB: 16,
    });
    const opts: string[] = [];
    const ports: number[] = [];
    for (let i = 0; i < max; i++) {
      const m = await c.machines.create({
        name: `r${daemons}${tuned ? '' : 'd'}-${i}`,
        mac: randomMac(),
        bootImageId: v.imageId,
      });
      const info = await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
      const s = await c.sessions.get(info.sessionId);
      const wb = await c.repos.writebacks.findById(s.writebackId!);
      // the writeback in the page cache (each reflink clone has a cache of its own)
      await qemuBench(['-f', 'raw', c.imageFiles.inside(wb!.path)], CLIENT_MIB);
      ports.push(info.portalPort);
      opts.push(
        [
          'driver=iscsi',
          'transport=tcp',
          `portal=127.0.0.1:${info.portalPort}`,
          `target=${info.targetIqn}`,
          'lun=1',
          `initiator-name=${info.initiatorIqn}`,
          `user=${info.chap.username}`,
          `password=${info.chap.password}`,
        ].join(','),
      );
    }
    const rows: ConcurrentRow[] = [];
    const pids = c.iscsi.daemonPids.filter((p): p is number => p !== null);
    for (const n of counts) {
      const runs: Array<{ mbps: number; cpu: CpuSplit }> = [];
      for (let r = 0; r < REPS; r++) {
        const t = await together(opts.slice(0, n), CLIENT_MIB, pids);
        runs.push({ mbps: (n * CLIENT_MIB * MiB) / t.secs / 1e6, cpu: t.cpu });
      }
      const per = new Map<number, number>();
      for (const p of ports.slice(0, n)) per.set(p, (per.get(p) ?? 0) + 1);
      const mid = [...runs].sort((a, b) => a.mbps - b.mbps)[Math.floor(runs.length / 2)]!;
      rows.push({ clients: n, daemons, mbps: mid.mbps, cpu: mid.cpu, spread: [...per.values()].join('/') });
    }
    return rows;
  } finally {
    await bench.cleanup();
  }
}

async function concurrentSection() {
  const before = values['skip-before'] ? [] : await concurrent(1, CLIENTS, false);
  const one = await concurrent(1, CLIENTS);
  const many = DAEMONS > 1 ? await concurrent(DAEMONS, CLIENTS) : [];
  const out: Array<Record<string, string>> = [];
  const split = (x: CpuSplit) =>
    `${(x.busy * 100).toFixed(0)}% / ${x.clients.toFixed(1)} / ${x.daemons.toFixed(1)}`;
  for (const [i, n] of CLIENTS.entries()) {
    const [b0, t0] = machineTicks();
    const ceiling = await tcpCeiling(n, n * CLIENT_MIB * MiB);
    const [b1, t1] = machineTicks();
    const a = one[i]!;
    const b = many[i];
    const z = before[i];
    out.push({
      clients: String(n),
      'TCP loopback MB/s (iperf3)': ceiling.toFixed(0),
      '1 tgtd as Debian ships it MB/s': z ? z.mbps.toFixed(0) : '-',
      '1 tgtd Debian / TCP': z ? (z.mbps / ceiling).toFixed(2) : '-',
      '1 tgtd MB/s': a.mbps.toFixed(0),
      '1 tgtd / TCP': (a.mbps / ceiling).toFixed(2),
      [`${DAEMONS} tgtd MB/s`]: b ? b.mbps.toFixed(0) : '-',
      [`${DAEMONS} tgtd / TCP`]: b ? (b.mbps / ceiling).toFixed(2) : '-',
      [`${DAEMONS} tgtd / 1 tgtd`]: b ? (b.mbps / a.mbps).toFixed(2) : '-',
      'clients per tgtd': b ? b.spread : a.spread,
      '1 tgtd / Debian': z ? (a.mbps / z.mbps).toFixed(2) : '-',
      'TCP: cores busy': `${(((b1 - b0) / Math.max(1, t1 - t0)) * 100).toFixed(0)}%`,
      '1 tgtd Debian: busy / CPU s clients / tgtd': z ? split(z.cpu) : '-',
      '1 tgtd: busy / CPU s clients / tgtd': split(a.cpu),
      [`${DAEMONS} tgtd: busy / CPU s clients / tgtd`]: b ? split(b.cpu) : '-',
    });
  }
  process.stdout.write(
    `\n${CLIENTS.join('/')} clients at once, each ${values.write ? 'writing' : 'reading'} its own ${CLIENT_MIB} MiB writeback through its own ` +
      `target (qemu-img bench 1 MiB x qd16, page cache warm), median of ${REPS}; ` +
      `${availableParallelism()} cores, goal: >= 0.5x TCP with cores x 4 = ${availableParallelism() * 4} clients\n`,
  );
  process.stdout.write(`${table(out)}\n`);
  process.stdout.write(
    'busy = share of all cores busy during the run (/proc/stat); CPU s = seconds of CPU of the qemu-img clients ' +
      "(this process's reaped children) and of the tgtd daemons (/proc/PID/stat) in that run\n",
  );
}

async function main() {
  if (!values['skip-single']) await single();
  await concurrentSection();
}

async function single() {
  const bench = await benchOnXfs(SIZE_GIB * 2 + 2, values.dir);
  const { c, portalPort } = bench;
  try {
    const v = await seedVersion(c, 'read-bench', { sizeGiB: SIZE_GIB, chunkMiB: 16, everyMiB: 16 });
    const m = await c.machines.create({ name: 'read-pc', mac: randomMac(), bootImageId: v.imageId });
    const info = await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    const s = await c.sessions.get(info.sessionId);
    const wb = await c.repos.writebacks.findById(s.writebackId!);
    const file = c.imageFiles.inside(wb!.path);
    const count = (SIZE_GIB * 1024) | 0;
    const opts = [
      'driver=iscsi',
      'transport=tcp',
      `portal=127.0.0.1:${portalPort}`,
      `target=${info.targetIqn}`,
      'lun=1',
      `initiator-name=${info.initiatorIqn}`,
      `user=${info.chap.username}`,
      `password=${info.chap.password}`,
    ].join(',');
    await qemuBench(['-f', 'raw', file], count); // warm the page cache
    const local: number[] = [];
    const iscsi: number[] = [];
    for (let i = 0; i < REPS; i++) {
      local.push(await qemuBench(['-f', 'raw', file], count));
      iscsi.push(await qemuBench(['--image-opts', opts], count));
    }
    const url = `iscsi://${info.chap.username}%${info.chap.password}@127.0.0.1:${portalPort}/${info.targetIqn}/1`;
    const perf = await iscsiPerf(url, info.initiatorIqn, 6, 2048);
    const l = median(local);
    const n = median(iscsi);
    process.stdout.write(
      `sequential read of a ${SIZE_GIB} GiB writeback (page cache warm), median of ${REPS}\n`,
    );
    process.stdout.write(
      `${table([
        {
          path: 'local file (qemu-img bench, 1 MiB x qd16)',
          'MB/s': l.toFixed(0),
          runs: local.map((x) => x.toFixed(0)).join(' '),
        },
        {
          path: 'iSCSI via tgtd (qemu-img bench, 1 MiB x qd16)',
          'MB/s': n.toFixed(0),
          runs: iscsi.map((x) => x.toFixed(0)).join(' '),
        },
        { path: 'iSCSI via tgtd (iscsi-perf, 1 MiB x 16, 6 s)', 'MB/s': perf.toFixed(0), runs: '-' },
      ])}\n\n`,
    );
    process.stdout.write(`ratio iSCSI / local (qemu-img bench): ${(n / l).toFixed(2)}\n`);
    await c.sessions.stop(info.sessionId);
  } finally {
    await bench.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
