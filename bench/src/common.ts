import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { open, statfs } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { killLeftoverTgtd } from '@ggnet/testkit';

export const run = promisify(execFile);
export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `--size 10G` / `--size 512M` (default 10 GiB), `--rounds N` (default 2), `--dir DIR` (default /var/tmp). */
export function args(): { size: number; dir: string; rounds: number } {
  const a = process.argv.slice(2);
  const get = (k: string) => {
    const i = a.indexOf(k);
    return i >= 0 ? a[i + 1] : undefined;
  };
  const s = get('--size') ?? process.env.BENCH_SIZE ?? '10G';
  const m = /^(\d+(?:\.\d+)?)([MG])$/i.exec(s);
  if (!m) throw new Error(`--size must look like 10G or 512M, not ${s}`);
  const size = Math.round(Number(m[1]) * (m[2]!.toUpperCase() === 'G' ? GiB : MiB));
  const rounds = Number(get('--rounds') ?? process.env.BENCH_ROUNDS ?? 2);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  return { size, dir: get('--dir') ?? process.env.BENCH_DIR ?? '/var/tmp', rounds };
}

export const fmtBytes = (n: number) =>
  n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(0)} MiB`;
export const rate = (bytes: number, ms: number) => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

export async function requireFree(dir: string, bytes: number): Promise<void> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  if (free < bytes) {
    throw new Error(
      `${dir} has ${fmtBytes(free)} free; this benchmark needs ${fmtBytes(bytes)} (use --size or --dir)`,
    );
  }
}

/** A file of `size` bytes of incompressible data (one 64 MiB random block, repeated), written with fsync. */
export async function makeDataFile(path: string, size: number): Promise<void> {
  const block = randomBytes(64 * MiB);
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < size; off += block.length) {
      const n = Math.min(block.length, size - off);
      await fh.write(block, 0, n, off);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Drops one file's pages from the page cache (posix_fadvise DONTNEED via dd), so that runs start cold. */
export async function dropCache(path: string): Promise<void> {
  await run('sync');
  await run('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
}

export interface Server {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** `ggnet serve` as a child process on a free port of 127.0.0.1 (built dist), with its own data dir. */
export async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<Server> {
  const proc = spawn(process.execPath, [resolve(REPO, 'apps/server/bin/ggnet.js'), 'serve'], {
    env: {
      ...process.env,
      GGNET_DATA_DIR: dataDir,
      GGNET_HOST: '127.0.0.1',
      GGNET_PORT: '0',
      GGNET_ADMIN_PASSWORD: 'bench-password-1',
      GGNET_LOG_LEVEL: 'info',
      GGNET_STORAGE_RESERVE: '0',
      // its own tgtd (random control port, loopback portal): never another one's, never 0.0.0.0
      GGNET_TGT_CONTROL_PORT: String(10000 + Math.floor(Math.random() * 22000)),
      GGNET_ISCSI_PORTAL: `127.0.0.1:${20000 + Math.floor(Math.random() * 12000)}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((ok, fail) => {
    const rl = createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; url?: string; level?: number };
        if (j.msg === 'GGnet is up' && j.url) ok(j.url);
        else if ((j.level ?? 0) >= 50) process.stderr.write(`server: ${line}\n`);
      } catch {
        /* banner lines */
      }
    });
    proc.once('exit', (code) => fail(new Error(`server exited with ${code}`)));
  });
  return {
    url,
    proc,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      killLeftoverTgtd(dataDir);
    },
  };
}

/** `ggnet worker` as a child process on the same data dir. */
export function startWorker(dataDir: string): ChildProcess {
  return spawn(process.execPath, [resolve(REPO, 'apps/server/bin/ggnet.js'), 'worker'], {
    env: { ...process.env, GGNET_DATA_DIR: dataDir, GGNET_LOG_LEVEL: 'warn', GGNET_STORAGE_RESERVE: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

export async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'bench-password-1' }),
  });
  if (!res.ok) throw new Error(`login: ${res.status}`);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

/** Best and median of some timings: on a shared machine the best run is what the code can do. */
export function stats(ms: number[]): { min: number; median: number } {
  const s = [...ms].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return { min: s[0]!, median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2 };
}

export function table(rows: Array<[string, string, string, string]>): string {
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n');
}

/** A table row of best and median time and the best throughput for `bytes`. */
export function timingRow(
  bytes: number,
  name: string,
  s: { min: number; median: number },
): [string, string, string, string] {
  return [name, `${(s.min / 1000).toFixed(1)} s`, `${(s.median / 1000).toFixed(1)} s`, rate(bytes, s.min)];
}
