import { createHash, randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpawnProcessRunner, type RunResult } from '../../src/adapters/process/process-runner.adapter.js';
import { tgtSocketPath } from '../../src/adapters/iscsi/tgt-daemon.js';
import type { Container } from '../../src/container.js';
import { nowIso } from '../../src/db/database.js';
import { newId } from '../../src/lib/ids.js';

export const runner = new SpawnProcessRunner();

/** Runs a tool; never throws, returns exit code and output (refusal tests look at both). */
export async function tool(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  try {
    return await runner.run(cmd, args, { timeoutMs, okExitCodes: Array.from({ length: 256 }, (_, i) => i) });
  } catch (err) {
    const e = err as { exitCode?: number | null; stdout?: string; stderr?: string };
    return {
      command: cmd,
      args,
      exitCode: e.exitCode ?? -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? String(err),
      durationMs: 0,
    };
  }
}

/** A free TCP port on loopback (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ port: 0, host: '127.0.0.1' }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A tgtd control port nobody uses (its management socket is a path, not a TCP port). */
export function freeControlPort(): number {
  for (;;) {
    const p = 10000 + Math.floor(Math.random() * 22000);
    if (!existsSync(tgtSocketPath(p)) && !existsSync(`${tgtSocketPath(p)}.lock`)) return p;
  }
}

/** Config for a test context with its own tgtd (random control port) and a loopback portal on a free port. */
export async function iscsiConfig(extra: Record<string, unknown> = {}) {
  const portalPort = await freePort();
  return {
    portalPort,
    config: {
      tgtControlPort: freeControlPort(),
      settings: { iscsi: { portal: `127.0.0.1:${portalPort}` } },
      ...extra,
    } as Record<string, unknown>,
  };
}

export interface LoopFs {
  dir: string;
  kind: 'xfs' | 'btrfs';
  cleanup(): Promise<void>;
}

/**
 * A filesystem in a loop file that the test makes, mounts and unmounts: XFS with reflink=1 or btrfs.
 * The loop device goes with the unmount (autoclear), the file with the temp dir.
 */
export async function makeLoopFs(kind: 'xfs' | 'btrfs', sizeMiB = 1024): Promise<LoopFs> {
  const base = mkdtempSync(join(tmpdir(), `ggnet-${kind}-`));
  const img = join(base, 'fs.img');
  const dir = join(base, 'mnt');
  await mkdir(dir);
  const fh = await open(img, 'w');
  await fh.truncate(sizeMiB * 1024 * 1024);
  await fh.close();
  const mk =
    kind === 'xfs'
      ? await tool('mkfs.xfs', ['-q', '-m', 'reflink=1', img])
      : await tool('mkfs.btrfs', ['-q', img]);
  if (mk.exitCode !== 0) throw new Error(`mkfs.${kind} failed: ${mk.stderr}`);
  const m = await tool('mount', ['-o', 'loop', img, dir]);
  if (m.exitCode !== 0) {
    rmSync(base, { recursive: true, force: true });
    throw new Error(`mount failed: ${m.stderr}`);
  }
  return {
    dir,
    kind,
    cleanup: async () => {
      // a just-closed file can keep the mount busy for a moment
      for (let i = 0; i < 40 && (await tool('mountpoint', ['-q', dir])).exitCode === 0; i++) {
        if ((await tool('umount', [dir])).exitCode !== 0) await sleep(250);
      }
      if ((await tool('mountpoint', ['-q', dir])).exitCode === 0) throw new Error(`could not unmount ${dir}`);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function fileSha256(path: string): Promise<string> {
  return sha256(await readFile(path));
}

/** Bytes [offset, offset+length) of a file. */
export async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(length);
    await fh.read(b, 0, length, offset);
    return b;
  } finally {
    await fh.close();
  }
}

export interface SeededImage {
  imageId: string;
  versionId: string;
  /** Absolute path of the version's raw file. */
  file: string;
  sizeBytes: number;
}

/**
 * An image with one ready, published version: a raw file with random data in its first `dataMiB`
 * MiB and a hole after it (like a real, partly filled disk).
 */
export async function seedImage(
  c: Container,
  name: string,
  opts: { sizeMiB?: number; dataMiB?: number } = {},
): Promise<SeededImage> {
  const sizeBytes = (opts.sizeMiB ?? 64) * 1024 * 1024;
  const imageId = newId();
  const versionId = newId();
  const rel = c.imageFiles.versionRelPath(imageId, versionId);
  const file = c.imageFiles.inside(rel);
  await mkdir(join(file, '..'), { recursive: true });
  const fh = await open(file, 'w');
  const data = opts.dataMiB ?? 8;
  for (let i = 0; i < data; i++) await fh.write(randomBytes(1024 * 1024), 0, 1024 * 1024, i * 1024 * 1024);
  await fh.truncate(sizeBytes);
  await fh.close();
  const now = nowIso();
  await c.repos.images.insert({
    id: imageId,
    name,
    description: '',
    os_type: 'linux',
    state: 'ready',
    error: null,
    source_format: 'raw',
    source_filename: null,
    source_size: sizeBytes,
    source_sha256: null,
    published_version_id: versionId,
    created_by: 'test',
    created_at: now,
    updated_at: now,
  });
  await c.repos.images.insertVersion({
    id: versionId,
    image_id: imageId,
    number: 1,
    state: 'ready',
    comment: 'seeded by the test',
    author: 'test',
    size_bytes: sizeBytes,
    sha256: null,
    protected: 0,
    parent_version_id: null,
    path: rel,
    error: null,
    created_at: now,
    ready_at: now,
  });
  return { imageId, versionId, file, sizeBytes };
}

export interface Creds {
  initiator: string;
  user?: string;
  password?: string;
}

/** iscsi://[user%password@]127.0.0.1:port/iqn/lun for libiscsi's tools. */
export function iscsiUrl(port: number, iqn: string, lun: number, c: Creds): string {
  const auth = c.user ? `${encodeURIComponent(c.user)}%${c.password ?? ''}@` : '';
  return `iscsi://${auth}127.0.0.1:${port}/${iqn}/${lun}`;
}

/** --image-opts for QEMU's iSCSI block driver. */
export function qemuOpts(port: number, iqn: string, lun: number, c: Creds): string {
  return [
    'driver=iscsi',
    'transport=tcp',
    `portal=127.0.0.1:${port}`,
    `target=${iqn}`,
    `lun=${lun}`,
    `initiator-name=${c.initiator}`,
    ...(c.user ? [`user=${c.user}`, `password=${c.password}`] : []),
  ].join(',');
}

/** iscsi-inq: exit 0 when the login (and inquiry) worked. */
export async function canLogin(port: number, iqn: string, lun: number, c: Creds) {
  return tool('iscsi-inq', ['-i', c.initiator, iscsiUrl(port, iqn, lun, c)], 20_000);
}

/** Writes a buffer through iSCSI at an offset with qemu-io (the driver writes through tgtd). */
export async function writeThroughIscsi(
  opts: string,
  offset: number,
  data: Buffer,
  scratchDir: string,
): Promise<RunResult> {
  const f = join(scratchDir, `chunk-${randomBytes(4).toString('hex')}.bin`);
  await writeFile(f, data);
  try {
    // qemu-io's write -s takes the data from a file
    return await tool('qemu-io', ['--image-opts', opts, '-c', `write -s ${f} ${offset} ${data.length}`]);
  } finally {
    rmSync(f, { force: true });
  }
}

/** Reads bytes through iSCSI: the whole LUN with qemu-img convert (test LUNs are small), then a range. */
export async function readThroughIscsi(opts: string, offset: number, length: number, scratchDir: string) {
  const out = join(scratchDir, `read-${randomBytes(4).toString('hex')}.raw`);
  const r = await tool('qemu-img', ['convert', '--image-opts', opts, '-O', 'raw', out], 120_000);
  if (r.exitCode !== 0) throw new Error(`qemu-img convert failed: ${r.stderr}`);
  try {
    return await readRange(out, offset, length);
  } finally {
    rmSync(out, { force: true });
  }
}

/**
 * A long-running initiator: qemu-io in interactive mode keeps one iSCSI session open and executes
 * the commands written to its stdin (one line each). Stopped by its PID.
 */
export class QemuIoSession {
  readonly child: ChildProcess;
  private out = '';

  constructor(opts: string) {
    this.child = spawn('qemu-io', ['--image-opts', opts], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => (this.out += b.toString()));
    this.child.stderr!.on('data', (b: Buffer) => (this.out += b.toString()));
  }

  get output(): string {
    return this.out;
  }

  /** Runs one qemu-io command and waits for its report line (`wrote`/`read`) or an error. */
  async cmd(line: string, expect: RegExp, timeoutMs = 30_000): Promise<string> {
    const start = this.out.length;
    this.child.stdin!.write(`${line}\n`);
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const part = this.out.slice(start);
      if (expect.test(part)) return part;
      if (/Pattern verification failed|error|failed/i.test(part)) throw new Error(`qemu-io: ${part}`);
      if (this.child.exitCode !== null) throw new Error(`qemu-io exited: ${this.out}`);
      await sleep(20);
    }
    throw new Error(`qemu-io: no answer to "${line}": ${this.out.slice(start)}`);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.pid === undefined) return;
    this.child.stdin!.end('quit\n');
    const until = Date.now() + 5000;
    while (this.child.exitCode === null && Date.now() < until) await sleep(50);
    if (this.child.exitCode === null) process.kill(this.child.pid, 'SIGKILL');
  }
}

/** iscsi-perf (sequential reads) for a few seconds, then SIGINT; returns the last MB/s it printed. */
export function iscsiPerf(url: string, initiator: string, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('iscsi-perf', ['-i', initiator, '-b', '256', '-m', '16', url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), seconds * 1000);
    child.on('close', () => {
      clearTimeout(timer);
      const rates = [...out.replace(/\r/g, '\n').matchAll(/\((\d+) MB\/s\)/g)].map((m) => Number(m[1]));
      if (rates.length) resolve(rates.at(-1)!);
      else reject(new Error(`iscsi-perf printed no rate: ${out.slice(-300)}`));
    });
  });
}

/** The PID in a pid file, if that process is alive. */
export function alivePid(pidFile: string): number | null {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/** Last resort in afterAll: stop a tgtd by PID (its targets first), remove its socket files. */
export async function killTgtd(controlPort: number, pid: number | null): Promise<void> {
  const show = await tool('tgtadm', [
    '-C',
    String(controlPort),
    '--lld',
    'iscsi',
    '--op',
    'show',
    '--mode',
    'target',
  ]);
  for (const m of show.stdout.matchAll(/^Target (\d+):/gm)) {
    await tool('tgtadm', [
      '-C',
      String(controlPort),
      '--lld',
      'iscsi',
      '--op',
      'delete',
      '--mode',
      'target',
      '--force',
      '--tid',
      m[1]!,
    ]);
  }
  await tool('tgtadm', ['-C', String(controlPort), '--op', 'delete', '--mode', 'system']);
  if (pid) {
    for (let i = 0; i < 40; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      if (i === 20) process.kill(pid, 'SIGKILL');
      await sleep(100);
    }
  }
  rmSync(tgtSocketPath(controlPort), { force: true });
  rmSync(`${tgtSocketPath(controlPort)}.lock`, { force: true });
}

export const fileExists = (p: string) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};
