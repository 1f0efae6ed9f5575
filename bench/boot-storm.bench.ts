/**
 * Boot storm: N simulated machines (distinct MACs, registered with a published image) ask GGnet for
 * their boot script (`GET /boot/ipxe?mac=...`) within a time window, against a real `ggnet serve` with
 * its real tgtd, on reflink storage (XFS, reflink=1, in a loop file made here). A client that gets
 * "preparing, ask again" (or "rate_limited") waits the `sleep` of that script and asks again, as iPXE
 * does. Every machine asks from its own loopback address (127.100.x.y), as PCs on a boot network each
 * have their own, so GGnet's default rate limits (per MAC and per address) are in force as in a room.
 * Measured: scripts served (sanboot), retries, latency of each script request and of each machine's
 * whole wait for its sanboot script, and the time until all N targets exist in tgtd (tgtd's live
 * state, polled with tgtadm).
 * Two kinds of storm in the same run: `cold` (boot.prepareAhead off: every request builds its session,
 * as before issue 12) and `prepared` (boot.prepareAhead on: the N machines booted once and were shut
 * down, so GGnet prepared their next boots in the background; a request only claims one). Also
 * measured: how long the background preparation of all N takes after they were shut down.
 * Baseline, side by side in the same run (alternated with the GGnet runs): the same N targets made by
 * hand in a shell loop, what a hand-made setup pays at least: per machine a reflink copy of the same
 * version file + tgtadm target, LUN, initiator ACL, CHAP account (own tgtd, same filesystem).
 *
 * Each storm runs on every storage backend of `--backends` (settings storage.backend, changed through
 * the API between them): `reflink` (a FICLONE of the version file per boot) and `qcow2` (a qcow2
 * overlay header per boot, served by qemu-storage-daemon over FUSE: no copy of the version at all).
 * GGnet runs `--daemons` tgtd instances (0: its default, one per core); targets and tgtd CPU are
 * counted over all of them.
 *
 *   npm run bench:boot-storm -- [--machines 200] [--windows 10,0] [--rounds 2] [--modes cold,prepared] [--backends reflink,qcow2] [--daemons 0] [--size-gib 20] [--data-gib 2] [--dir /var/tmp] [--cpu-prof DIR]
 *
 * Runs as root (loop mount, tgtd); only loopback. Cleans up (GGnet, both tgtd by PID, loop mount,
 * temp dirs) also on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigSchema, createContainer, migrateToLatest } from '@ggnet/server';
import { alivePid, killLeftoverTgtd, killPid, removeTgtSocket, tgtShowTargets } from '@ggnet/testkit';
import {
  fmtMs,
  freeControlPort,
  freePort,
  loopXfs,
  randomMac,
  seedVersion,
  sh,
  stats,
  table,
} from './iscsi-lib.js';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const PASSWORD = 'bench-password-1';

const { values } = parseArgs({
  options: {
    machines: { type: 'string', default: '200' },
    windows: { type: 'string', default: '10,0' },
    rounds: { type: 'string', default: '2' },
    'size-gib': { type: 'string', default: '20' },
    'data-gib': { type: 'string', default: '2' },
    dir: { type: 'string', default: '/var/tmp' },
    modes: { type: 'string', default: 'cold,prepared' },
    backends: { type: 'string', default: 'reflink' },
    daemons: { type: 'string', default: '0' },
    /** Writes a V8 CPU profile of the GGnet process to this directory (node --cpu-prof) when it stops. */
    'cpu-prof': { type: 'string' },
  },
});
const BACKENDS = values.backends.split(',') as Array<'reflink' | 'qcow2'>;
if (!BACKENDS.length || BACKENDS.some((b) => b !== 'reflink' && b !== 'qcow2'))
  throw new Error('--backends: reflink, qcow2 or both (reflink,qcow2)');
const DAEMONS = Number(values.daemons) || availableParallelism();
if (!Number.isInteger(DAEMONS) || DAEMONS < 1 || DAEMONS > 64)
  throw new Error('--daemons: 0 (one per core) or 1..64');
const MODES = values.modes.split(',') as Array<'cold' | 'prepared'>;
if (!MODES.length || MODES.some((m) => m !== 'cold' && m !== 'prepared'))
  throw new Error('--modes: cold, prepared or both (cold,prepared)');
const N = Number(values.machines);
const WINDOWS = values.windows.split(',').map(Number);
const ROUNDS = Number(values.rounds);
const SIZE_GIB = Number(values['size-gib']);
const DATA_GIB = Number(values['data-gib']);
for (const [k, v] of [
  ['machines', N],
  ['rounds', ROUNDS],
  ['size-gib', SIZE_GIB],
] as const)
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
if (!(DATA_GIB >= 0 && DATA_GIB < SIZE_GIB)) throw new Error('--data-gib must be below --size-gib');
if (WINDOWS.some((w) => !(w >= 0 && w <= 600))) throw new Error('--windows: seconds, e.g. 10,0');
if (process.getuid?.() !== 0) throw new Error('run as root (loop mount, tgtd)');

/** CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat. */
function cpuMs(pid: number, which: 'all' | 'sys' = 'all'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime + stime in USER_HZ (100); system time includes the kernel's reflink (FICLONE) work
    const ticks = which === 'sys' ? Number(f[12]) : Number(f[11]) + Number(f[12]);
    return (ticks * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** One figure of GGnet's Prometheus metrics (scraped from loopback, as an operator's Prometheus does). */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Targets tgtd serves right now (its live state, through its control port). */
const tgtTargets = async (controlPort: number): Promise<number> =>
  (await tgtShowTargets(controlPort)).split('\n').filter((l) => /^Target \d+: /.test(l)).length;

/** Targets all of GGnet's tgtd instances serve (control ports base .. base + DAEMONS - 1). */
const allTargets = async (g: Ggnet): Promise<number> => {
  const counts = await Promise.all(Array.from({ length: DAEMONS }, (_, i) => tgtTargets(g.controlPort + i)));
  return counts.reduce((a, b) => a + b, 0);
};

/**
 * One plain HTTP GET on a new connection (as iPXE does for each `chain`), body as text, from the
 * client's own address: every machine of the storm has one (127.x.y.z, all loopback), as PCs on a
 * boot network do, so that GGnet's per-address limits see what they would see in a real room.
 */
function httpGet(
  url: string,
  localAddress: string,
): Promise<{ status: number; body: string; result: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { agent: false, timeout: 120_000, localAddress }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () =>
        ok({
          status: res.statusCode ?? 0,
          body: Buffer.concat(parts).toString(),
          result: String(res.headers['x-ggnet-boot-result'] ?? ''),
        }),
      );
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end();
  });
}

interface Ggnet {
  url: string;
  controlPort: number;
  portalPort: number;
  token: string;
  /** Logs in again (a run on a loaded machine outlives the access token). */
  relogin: () => Promise<void>;
  proc: ChildProcess;
  /** GGnet's tgtd instances (each writes its pid file in the data dir). */
  tgtdPids: () => number[];
}

async function api<T>(g: Ggnet, method: string, path: string, body?: unknown, again = true): Promise<T> {
  const res = await fetch(`${g.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${g.token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status === 401 && again) {
    await g.relogin();
    return api(g, method, path, body, false);
  }
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

interface StormResult {
  served: number;
  failed: string[];
  preparing: number;
  /** 'rate_limited' answers (followed like 'preparing'): none expected with the default limits. */
  limited: number;
  requests: number[];
  perMachine: number[];
  allTargetsMs: number | null;
  afterLastSentMs: number | null;
  /** First request -> the last machine's sanboot script. */
  lastServedMs: number | null;
  /** CPU time GGnet (the `ggnet serve` process) and its tgtd used during the storm, ms. */
  ggnetCpuMs: number;
  /** Of which in the kernel (system time). */
  ggnetSysMs: number;
  tgtdCpuMs: number;
  /** Reconcile passes during the storm and the wall time they took, ms. */
  reconcilePasses: number;
  reconcileMs: number;
  lastScript: string | null;
}

/** The storm: machine i asks at t0 + i * window / n; "preparing" answers are followed like iPXE. */
async function storm(g: Ggnet, macs: string[], windowSec: number): Promise<StormResult> {
  const r: StormResult = {
    served: 0,
    failed: [],
    preparing: 0,
    limited: 0,
    requests: [],
    perMachine: [],
    allTargetsMs: null,
    afterLastSentMs: null,
    lastServedMs: null,
    ggnetCpuMs: 0,
    ggnetSysMs: 0,
    tgtdCpuMs: 0,
    reconcilePasses: 0,
    reconcileMs: 0,
    lastScript: null,
  };
  const tgtdPids = g.tgtdPids();
  const tgtdCpu = () => (tgtdPids.length ? tgtdPids.reduce((a, pid) => a + cpuMs(pid), 0) : Number.NaN);
  const cpu0 = {
    ggnet: cpuMs(g.proc.pid!),
    sys: cpuMs(g.proc.pid!, 'sys'),
    tgtd: tgtdCpu(),
  };
  const rec0 = {
    passes: await metric(g.url, 'ggnet_reconcile_passes'),
    s: await metric(g.url, 'ggnet_reconcile_pass_seconds'),
  };
  const t0 = performance.now();
  let lastSent = 0;
  let done = false;
  // tgtd's live state while the storm runs: when do all N targets exist?
  const watcher = (async () => {
    while (!done || r.allTargetsMs === null) {
      const n = await allTargets(g).catch(() => 0);
      if (n >= macs.length) {
        r.allTargetsMs = performance.now() - t0;
        r.afterLastSentMs = r.allTargetsMs - lastSent;
        return;
      }
      if (done && performance.now() - t0 > 300_000) return;
      await sleep(100);
    }
  })();
  await Promise.all(
    macs.map(async (mac, i) => {
      await sleep((i * windowSec * 1000) / macs.length);
      const start = performance.now();
      lastSent = Math.max(lastSent, start - t0);
      let url = `${g.url}/boot/ipxe?mac=${encodeURIComponent(mac)}&arch=x86_64&platform=efi`;
      const from = `127.${100 + (i >> 16)}.${(i >> 8) & 255}.${(i & 255) + 1}`;
      for (let attempt = 0; attempt < 100; attempt++) {
        const t = performance.now();
        let res: { status: number; body: string; result: string };
        try {
          res = await httpGet(url, from);
        } catch (e) {
          r.failed.push(`${mac}: ${(e as Error).message}`);
          return;
        }
        r.requests.push(performance.now() - t);
        if (res.status === 200 && /^sanboot /m.test(res.body)) {
          r.served++;
          r.perMachine.push(performance.now() - start);
          r.lastServedMs = Math.max(r.lastServedMs ?? 0, performance.now() - t0);
          r.lastScript = res.body;
          return;
        }
        const wait = /^sleep (\d+)$/m.exec(res.body);
        const next = /^chain --replace --autofree (\S+) \|\| goto retry$/m.exec(res.body);
        if (res.status === 200 && ['preparing', 'rate_limited'].includes(res.result) && wait && next) {
          // iPXE: sleep, then chain the URL with its own settings filled in
          if (res.result === 'rate_limited') r.limited++;
          else r.preparing++;
          await sleep(Number(wait[1]) * 1000);
          url = next[1]!
            .replace('${netX/mac}', encodeURIComponent(mac))
            .replace('${buildarch}', 'x86_64')
            .replace('${platform}', 'efi');
          continue;
        }
        r.failed.push(`${mac}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
        return;
      }
      r.failed.push(`${mac}: still preparing after 100 attempts`);
    }),
  );
  done = true;
  await watcher;
  r.ggnetCpuMs = cpuMs(g.proc.pid!) - cpu0.ggnet;
  r.ggnetSysMs = cpuMs(g.proc.pid!, 'sys') - cpu0.sys;
  r.tgtdCpuMs = tgtdCpu() - cpu0.tgtd;
  r.reconcilePasses = (await metric(g.url, 'ggnet_reconcile_passes')) - rec0.passes;
  r.reconcileMs = ((await metric(g.url, 'ggnet_reconcile_pass_seconds')) - rec0.s) * 1000;
  return r;
}

/** The script's own credentials log in to its target with a real initiator (libiscsi). */
async function probeScript(script: string): Promise<string> {
  const get = (re: RegExp) => re.exec(script)?.[1] ?? '';
  const iqn = get(/^set initiator-iqn (\S+)$/m);
  const user = get(/^set username (\S+)$/m);
  const pass = get(/^set password (\S+)$/m);
  const m = /^sanboot iscsi:([\d.]+)::(\d+):([0-9a-f]+):(\S+) /m.exec(script);
  if (!m) throw new Error(`no sanboot URI in the script:\n${script}`);
  const lun = parseInt(m[3]!, 16);
  return sh('iscsi-inq', ['-i', iqn, `iscsi://${user}%${pass}@${m[1]}:${m[2]}/${m[4]}/${lun}`]);
}

// The hand-made setup: what an admin's shell loop does per machine (no database, no HTTP, no CHAP
// secrets generated, sequential). Arguments are passed as positional parameters, never spliced in.
const HAND_LOOP = `
set -e
cp_=$1; golden=$2; dir=$3; n=$4
T() { tgtadm -C "$cp_" --lld iscsi "$@"; }
for i in $(seq 1 "$n"); do
  cp --reflink=always "$golden" "$dir/wb-$i.raw"
  T --op new --mode target --tid "$i" --targetname "iqn.2024-01.bench.hand:pc-$i"
  T --op new --mode logicalunit --tid "$i" --lun 1 --backing-store "$dir/wb-$i.raw"
  T --op bind --mode target --tid "$i" --initiator-name "iqn.2024-01.bench.hand:init-$i"
  T --op new --mode account --user "pc$i" --password "secret-of-pc-$i"
  T --op bind --mode account --tid "$i" --user "pc$i"
done
`;

async function main() {
  const fs = await loopXfs(SIZE_GIB + DATA_GIB + 16, values.dir);
  const dataDir = join(fs.dir, 'data');
  const handDir = join(fs.dir, 'hand');
  mkdirSync(handDir);
  const pids = new Set<number>();
  const sockets = new Set<number>();
  let ggnetProc: ChildProcess | null = null;
  let ggnetTgtPort = 0;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    if (ggnetProc?.pid && ggnetProc.exitCode === null) await killPid(ggnetProc.pid, 5000);
    // GGnet leaves its tgtd running by design (booted clients keep their disks): stop it by its PID
    killLeftoverTgtd(dataDir);
    // and its qemu-storage-daemon (qcow2 backend); the FUSE exports go with it, any left lazily
    const qsdPid = alivePid(join(dataDir, 'run', 'qemu-storage-daemon.pid'));
    if (qsdPid) await killPid(qsdPid, 5000);
    const exportsDir = `${join(dataDir, 'exports')}/`;
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mountpoint = line.split(' ')[4];
      if (mountpoint?.startsWith(exportsDir)) await sh('umount', ['-l', mountpoint]).catch(() => undefined);
    }
    // tgtd ignores SIGTERM: SIGKILL at once
    for (const pid of pids) if (pid > 0) await killPid(pid, 0);
    for (const p of sockets) removeTgtSocket(p);
    await fs.cleanup();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: cleaning up...\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // ---- the version: a published image written straight into GGnet's data dir
    process.stdout.write(
      `seeding a ${SIZE_GIB} GiB version with ${DATA_GIB} GiB of data in 1 MiB pieces on XFS (reflink=1)...\n`,
    );
    const seedConfig = ConfigSchema.parse({
      dataDir,
      logLevel: 'silent',
      jwtSecret: randomBytes(32).toString('hex'),
    });
    const seeder = createContainer(seedConfig, { log: pino({ level: 'silent' }) });
    await migrateToLatest(seeder.database);
    const every =
      DATA_GIB > 0 ? Math.max(1, Math.floor((SIZE_GIB * 1024) / (DATA_GIB * 1024))) : SIZE_GIB * 1024;
    const version = await seedVersion(seeder, 'bench-storm', {
      sizeGiB: SIZE_GIB,
      chunkMiB: 1,
      everyMiB: every,
    });
    await seeder.close();
    process.stdout.write(
      `  version file: ${SIZE_GIB} GiB virtual, ${(version.dataBytes / 1024 ** 3).toFixed(2)} GiB written, ${version.extents} extents\n`,
    );

    // ---- GGnet as it runs in production: `ggnet serve` (built), its own tgtd, loopback only
    const port = await freePort();
    const portalPort = await freePort();
    // DAEMONS control ports in a row, all free
    do ggnetTgtPort = freeControlPort();
    while (
      Array.from({ length: DAEMONS }, (_, i) => ggnetTgtPort + i).some(
        (p) => existsSync(`/var/run/tgtd/socket.${p}`) || existsSync(`/var/run/tgtd/socket.${p}.lock`),
      )
    );
    for (let i = 0; i < DAEMONS; i++) sockets.add(ggnetTgtPort + i);
    const logFd = openSync(join(fs.dir, 'ggnet.log'), 'a');
    if (!existsSync(join(REPO, 'apps', 'server', 'dist', 'cli.js')))
      throw new Error('apps/server/dist is missing: run `npm run build` first');
    const prof = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof'])}`] : [];
    ggnetProc = spawn(process.execPath, [...prof, join(REPO, 'apps', 'server', 'bin', 'ggnet.js'), 'serve'], {
      env: {
        ...process.env,
        GGNET_DATA_DIR: dataDir,
        GGNET_HOST: '127.0.0.1',
        GGNET_PORT: String(port),
        GGNET_ADMIN_PASSWORD: PASSWORD,
        GGNET_LOG_LEVEL: 'warn',
        GGNET_STORAGE_RESERVE: '0',
        GGNET_TGT_CONTROL_PORT: String(ggnetTgtPort),
        GGNET_TGT_DAEMONS: String(DAEMONS),
        GGNET_ISCSI_PORTAL: `127.0.0.1:${portalPort}`,
        GGNET_DHCP_MODE: 'off',
      },
      stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (ggnetProc.exitCode !== null) throw new Error(`ggnet serve exited (see ${fs.dir}/ggnet.log)`);
      const ok = await fetch(`${url}/readyz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (i > 600) throw new Error('ggnet serve did not get ready in 60 s');
      await sleep(100);
    }
    const logIn = async () => {
      const login = await fetch(`${url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: PASSWORD }),
      });
      if (!login.ok) throw new Error(`login: HTTP ${login.status}`);
      return ((await login.json()) as { accessToken: string }).accessToken;
    };
    const token = await logIn();
    const g: Ggnet = {
      url,
      controlPort: ggnetTgtPort,
      portalPort,
      token,
      relogin: async () => {
        g.token = await logIn();
      },
      proc: ggnetProc,
      tgtdPids: () =>
        Array.from({ length: DAEMONS }, (_, d) => {
          try {
            return Number(readFileSync(join(dataDir, 'run', `tgtd.${ggnetTgtPort + d}.pid`), 'utf8').trim());
          } catch {
            return 0;
          }
        }).filter((pid) => pid > 0),
    };

    const macs = Array.from({ length: N }, () => randomMac());
    if (new Set(macs).size !== N) throw new Error('MAC collision, run again');
    for (let i = 0; i < N; i += 20)
      await Promise.all(
        macs
          .slice(i, i + 20)
          .map((mac, j) =>
            api(g, 'POST', '/api/v1/machines', { name: `storm-${i + j}`, mac, bootImageId: version.imageId }),
          ),
      );
    process.stdout.write(`  ggnet serve up at ${url}, ${N} machines registered\n`);

    const setPrepare = (on: boolean) => api(g, 'PUT', '/api/v1/settings', { boot: { prepareAhead: on } });
    const liveSessions = async () =>
      (await api<{ total: number }>(g, 'GET', '/api/v1/sessions?live=true&limit=1')).total;
    /**
     * Ends every session (the machines are shut down) and waits for what follows: no target at all
     * (cold), or every machine's next boot prepared (N targets in tgtd, no live session). Returns
     * the time from the last stop to that state.
     */
    const endAllSessions = async (prepared: boolean): Promise<number> => {
      for (;;) {
        const page = await api<{ items: Array<{ id: string }> }>(
          g,
          'GET',
          '/api/v1/sessions?live=true&limit=500',
        );
        if (!page.items.length) break;
        for (let i = 0; i < page.items.length; i += 20)
          await Promise.all(
            page.items.slice(i, i + 20).map((s) => api(g, 'POST', `/api/v1/sessions/${s.id}/stop`, {})),
          );
      }
      const t = performance.now();
      const want = prepared ? N : 0;
      for (let i = 0; ; i++) {
        if ((await allTargets(g)) === want && (await liveSessions()) === 0) break;
        if (i > 3000) throw new Error(`tgtd did not reach ${want} targets in 300 s`);
        await sleep(100);
      }
      const ms = performance.now() - t;
      await sleep(3000); // the spare-clone pool refills (as between two storms in real life)
      return ms;
    };

    // ---- the hand-made baseline: own tgtd on the same filesystem, fresh for every run
    const hand = async () => {
      const cp = freeControlPort();
      const portal = await freePort();
      sockets.add(cp);
      const tgtd = spawn('tgtd', ['-f', '-C', String(cp), '--iscsi', `portal=127.0.0.1:${portal}`], {
        stdio: 'ignore',
      });
      pids.add(tgtd.pid!);
      try {
        for (let i = 0; ; i++) {
          if (
            await tgtTargets(cp).then(
              () => true,
              () => false,
            )
          )
            break;
          if (i > 100) throw new Error('baseline tgtd did not start');
          await sleep(100);
        }
        const t = performance.now();
        await sh('bash', ['-c', HAND_LOOP, 'hand-loop', String(cp), version.file, handDir, String(N)]);
        const ms = performance.now() - t;
        const n = await tgtTargets(cp);
        if (n !== N) throw new Error(`baseline: tgtd has ${n} targets, expected ${N}`);
        return ms;
      } finally {
        await killPid(tgtd.pid!, 0);
        pids.delete(tgtd.pid!);
        removeTgtSocket(cp);
        sockets.delete(cp);
        rmSync(handDir, { recursive: true, force: true });
        mkdirSync(handDir);
      }
    };

    const load0 = loadavg();
    const handMs: number[] = [];
    const runs = new Map<string, StormResult[]>();
    const prepareAllMs: number[] = [];
    const key = (backend: string, mode: string, w: number) => `${backend}:${mode}:${w}`;
    let probe = '';
    let handRound = 0;
    for (const backend of BACKENDS) {
      await setPrepare(false);
      await endAllSessions(false); // what was prepared at registration is undone
      await api(g, 'PUT', '/api/v1/settings', { storage: { backend } });
      process.stdout.write(`storage backend: ${backend}\n`);
      // the machines boot once (cold) on this backend before anything is measured, then are shut down
      await storm(g, macs, 0);
      await endAllSessions(false);
      for (let round = 1; round <= ROUNDS; round++) {
        const h = await hand();
        handMs.push(h);
        handRound++;
        process.stdout.write(
          `hand-made loop ${handRound}: ${N} targets in ${fmtMs(h)} ms (load ${loadavg()[0]!.toFixed(1)})\n`,
        );
        for (const mode of MODES) {
          const prepared = mode === 'prepared';
          await setPrepare(prepared);
          if (!prepared) await endAllSessions(false); // preparations undone before the cold storm
          if (prepared) {
            // shut down after their last boot: the next boots are prepared in the background
            const ms = await endAllSessions(true);
            prepareAllMs.push(ms);
            process.stdout.write(
              `${backend} round ${round}: ${N} machines' next boots prepared in the background in ${fmtMs(ms)} ms\n`,
            );
          }
          for (const w of WINDOWS) {
            const r = await storm(g, macs, w);
            if (!runs.has(key(backend, mode, w))) runs.set(key(backend, mode, w), []);
            runs.get(key(backend, mode, w))!.push(r);
            const q = stats(r.requests);
            process.stdout.write(
              `${backend} round ${round}: GGnet ${mode} storm over ${w} s: ${r.served}/${N} sanboot scripts, ${r.preparing} 'preparing' and ${r.limited} 'rate_limited' answers followed, ` +
                `${r.failed.length} failed; request p50 ${fmtMs(q.p50)} ms p99 ${fmtMs(q.p99)} ms; all ${N} targets in tgtd after ${r.allTargetsMs === null ? 'NEVER' : `${fmtMs(r.allTargetsMs)} ms`}; ` +
                `CPU GGnet ${fmtMs(r.ggnetCpuMs / N)} ms/boot (${fmtMs(r.ggnetSysMs / N)} in the kernel), tgtd ${fmtMs(r.tgtdCpuMs / N)} ms/boot; ${r.reconcilePasses} reconcile passes (${fmtMs(r.reconcileMs)} ms) (load ${loadavg()[0]!.toFixed(1)})\n`,
            );
            for (const f of r.failed.slice(0, 5)) process.stdout.write(`    failed: ${f}\n`);
            if (r.lastScript && (!probe || backend !== BACKENDS[0])) probe = await probeScript(r.lastScript);
            if (!/DIRECT_ACCESS/.test(probe))
              throw new Error(
                `a served script (${backend}, ${mode}) does not log in to its target:\n${probe}`,
              );
            const ms = await endAllSessions(prepared);
            if (prepared) prepareAllMs.push(ms);
          }
        }
      }
    }
    const load1 = loadavg();

    // ---- report
    const handMed =
      handMs.length % 2
        ? stats(handMs).p50
        : (stats(handMs).p50 + [...handMs].sort((x, y) => x - y)[handMs.length / 2]!) / 2;
    const rows: Array<Record<string, string | number>> = [
      {
        setup: `hand-made shell loop (baseline), ${handMs.length} runs`,
        'served / retries / limited': `${N} targets (no scripts)`,
        'request p50 ms': '-',
        'request p99 ms': '-',
        'machine wait p50 / p99 ms': `${fmtMs(handMed / N)} per target (mean)`,
        'all targets ms': handMs.map((x) => fmtMs(x)).join(', '),
        'after last request ms': '-',
        'last script ms': '-',
        'CPU ms/boot GGnet / tgtd': '-',
        'reconcile passes (ms)': '-',
      },
    ];
    for (const [k, rs] of runs) {
      const [backend, mode, wText] = k.split(':');
      const w = Number(wText);
      const req = stats(rs.flatMap((r) => r.requests));
      const pm = stats(rs.flatMap((r) => r.perMachine));
      const all = rs.map((r) => r.allTargetsMs ?? Number.NaN);
      const after = rs.map((r) => r.afterLastSentMs ?? Number.NaN);
      rows.push({
        setup: `GGnet ${backend} ${mode}, ${N} machines over ${w} s, ${rs.length} runs`,
        'served / retries / limited': rs
          .map(
            (r) =>
              `${r.served}/${N}${r.failed.length ? ` (${r.failed.length} FAILED)` : ''} / ${r.preparing} / ${r.limited}`,
          )
          .join(', '),
        'request p50 ms': fmtMs(req.p50),
        'request p99 ms': fmtMs(req.p99),
        'machine wait p50 / p99 ms': `${fmtMs(pm.p50)} / ${fmtMs(pm.p99)}`,
        'all targets ms': all.map((x) => fmtMs(x)).join(', '),
        'after last request ms': after.map((x) => fmtMs(x)).join(', '),
        'last script ms': rs.map((r) => fmtMs(r.lastServedMs ?? Number.NaN)).join(', '),
        'CPU ms/boot GGnet / tgtd': rs
          .map((r) => `${fmtMs(r.ggnetCpuMs / N)} / ${fmtMs(r.tgtdCpuMs / N)}`)
          .join(', '),
        'reconcile passes (ms)': rs.map((r) => `${r.reconcilePasses} (${fmtMs(r.reconcileMs)})`).join(', '),
      });
    }
    process.stdout.write(
      `\nboot storm: ${N} machines, ${SIZE_GIB} GiB version (${(version.dataBytes / 1024 ** 3).toFixed(1)} GiB data, ${version.extents} extents), XFS reflink in a loop file, real tgtd\n`,
    );
    process.stdout.write(
      `load average (1/5/15 min) ${load0.map((x) => x.toFixed(1)).join('/')} -> ${load1.map((x) => x.toFixed(1)).join('/')} on ${cpus().length} CPUs\n\n`,
    );
    process.stdout.write(`${table(rows)}\n\n`);
    process.stdout.write(
      'request = one GET /boot/ipxe; machine wait = first request -> sanboot script (retries after "preparing" included);\n' +
        'all targets = first request -> tgtd lists all targets; hand-made = cp --reflink + 5 tgtadm per target, sequential.\n',
    );
    const med = (xs: number[]) => {
      const a = [...xs].sort((x, y) => x - y);
      return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
    };
    for (const [k, rs] of runs) {
      const [backend, mode, w] = k.split(':');
      const medAll = med(rs.map((r) => r.allTargetsMs ?? Number.POSITIVE_INFINITY));
      const lastServed = med(rs.map((r) => r.lastServedMs ?? Number.POSITIVE_INFINITY));
      process.stdout.write(
        `${backend} ${mode} over ${w} s: last script served ${fmtMs(lastServed)} ms after the first request (median)` +
          (mode === 'cold'
            ? `; all targets GGnet / hand loop (medians) = ${(medAll / handMed).toFixed(2)}x` +
              (w === '0'
                ? ` (throughput: GGnet ${((N * 1000) / medAll).toFixed(1)} targets/s, hand ${((N * 1000) / handMed).toFixed(1)} targets/s)`
                : '')
            : '') +
          '\n',
      );
    }
    const p99 = (rs: StormResult[] | undefined) => (rs ? stats(rs.flatMap((r) => r.requests)).p99 : null);
    for (const w of WINDOWS) {
      for (const backend of BACKENDS) {
        const c = p99(runs.get(key(backend, 'cold', w)));
        const p = p99(runs.get(key(backend, 'prepared', w)));
        if (c !== null && p !== null)
          process.stdout.write(
            `${backend} over ${w} s: request p99 prepared ${fmtMs(p)} ms vs cold ${fmtMs(c)} ms = ${(c / p).toFixed(1)}x faster\n`,
          );
      }
      const base = p99(runs.get(key('reflink', 'cold', w)));
      const ov = p99(runs.get(key('qcow2', 'cold', w)));
      if (base !== null && ov !== null)
        process.stdout.write(
          `over ${w} s: cold request p99 qcow2 ${fmtMs(ov)} ms vs reflink ${fmtMs(base)} ms = ${(base / ov).toFixed(2)}x\n`,
        );
    }
    if (prepareAllMs.length)
      process.stdout.write(
        `background preparation of all ${N} after they were shut down: ${prepareAllMs.map((x) => fmtMs(x)).join(', ')} ms\n`,
      );
    const allServed = [...runs.values()].flat().every((r) => r.served === N && r.failed.length === 0);
    const limited = [...runs.values()].flat().reduce((n, r) => n + r.limited, 0);
    process.stdout.write(
      `all served: ${allServed ? 'yes' : 'NO'}; rate-limited answers with the default limits: ${limited}; a served script logged in to its target with iscsi-inq: yes\n`,
    );
    if (!allServed || limited > 0) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
