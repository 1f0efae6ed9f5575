import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { AddressInfo, Socket } from 'node:net';
import type { Image, Job } from '@ggnet/contracts';
import { makeLoopFs } from '@ggnet/testkit';
import { createJobWorker } from '../../src/modules/jobs/job-services.js';
import type { JobWorker, JobWorkerOptions } from '../../src/modules/jobs/job-worker.js';
import type { TestContext } from './test-context.js';

export const run = promisify(execFile);
export const MiB = 1024 * 1024;

export async function tempDir(prefix = 'ggnet-img-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A raw disk of `size` bytes with random data in scattered 1 MiB blocks (the rest are holes):
 * like a real disk, partly allocated, so sparse handling is exercised too.
 */
export async function makeRawDisk(path: string, size: number, dataFraction = 0.5): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
    const blocks = Math.floor(size / MiB);
    for (let b = 0; b < blocks; b++) {
      if (b !== 0 && b !== blocks - 1 && Math.random() > dataFraction) continue;
      await fh.write(randomBytes(MiB), 0, MiB, b * MiB);
    }
  } finally {
    await fh.close();
  }
}

/** qemu-img convert -O fmt (the real tool, as in the tests). */
export async function toFormat(
  raw: string,
  format: string,
  out: string,
  extra: string[] = [],
): Promise<void> {
  await run('qemu-img', ['convert', '-f', 'raw', '-O', format, ...extra, raw, out]);
}

export async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/**
 * True when `converted` holds exactly the bytes of `original`, followed only by zeros (VHD rounds
 * the disk size up to its geometry).
 */
export async function sameDisk(original: string, converted: string): Promise<boolean> {
  const a = await readFile(original);
  const b = await readFile(converted);
  if (b.length < a.length) return false;
  if (!a.equals(b.subarray(0, a.length))) return false;
  for (let i = a.length; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Polls until `fn` returns a value (not undefined), or fails after `ms`. */
export async function until<T>(
  fn: () => Promise<T | undefined>,
  ms = 30_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function waitJob(t: TestContext, id: string, ms = 60_000): Promise<Job> {
  return until(
    async () => {
      const j = await t.container.jobs.get(id);
      return ['queued', 'running'].includes(j.state) ? undefined : j;
    },
    ms,
    `job ${id}`,
  );
}

export async function waitImage(t: TestContext, id: string, states: string[], ms = 60_000): Promise<Image> {
  return until(
    async () => {
      const img = await t.container.images.get(id);
      return states.includes(img.state) ? img : undefined;
    },
    ms,
    `image ${id} to be ${states.join('/')}`,
  );
}

/** An in-process worker with test timings; stopped by the returned function. */
export function startWorker(t: TestContext, opts: JobWorkerOptions = {}): JobWorker {
  const w = createJobWorker(t.container, { pollMs: 50, backoffBaseMs: 50, schedules: [], ...opts });
  w.start();
  return w;
}

/** The app on a real socket (127.0.0.1, port 0). */
export async function listen(t: TestContext): Promise<string> {
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = t.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return `http://127.0.0.1:${addr.port}`;
}

/** Writes a file into a directory, creating it. */
export async function put(dir: string, name: string, data: string | Buffer): Promise<string> {
  await mkdir(dir, { recursive: true });
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}

/** Rewrites the virtual disk size in a VHDX's metadata region (no checksum covers it). */
export async function patchVhdxSize(path: string, newSize: number): Promise<number> {
  const d = await readFile(path);
  const guid = (s: string) => {
    const h = s.replace(/-/g, '');
    const b = Buffer.from(h, 'hex');
    // GUIDs are stored little-endian in their first three fields
    return Buffer.concat([
      Buffer.from(b.subarray(0, 4)).reverse(),
      Buffer.from(b.subarray(4, 6)).reverse(),
      Buffer.from(b.subarray(6, 8)).reverse(),
      b.subarray(8),
    ]);
  };
  const rt = 192 * 1024;
  if (d.toString('latin1', rt, rt + 4) !== 'regi') throw new Error('no VHDX region table');
  const metaGuid = guid('8B7CA206-4790-4B9A-B8FE-575F050F886E');
  let meta = -1;
  for (let i = 0; i < d.readUInt32LE(rt + 8); i++) {
    const e = rt + 16 + i * 32;
    if (d.subarray(e, e + 16).equals(metaGuid)) meta = Number(d.readBigUInt64LE(e + 16));
  }
  if (meta < 0 || d.toString('latin1', meta, meta + 8) !== 'metadata') throw new Error('no VHDX metadata');
  const vds = guid('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
  for (let i = 0; i < d.readUInt16LE(meta + 10); i++) {
    const e = meta + 32 + i * 32;
    if (d.subarray(e, e + 16).equals(vds)) {
      const off = meta + d.readUInt32LE(e + 16);
      const old = Number(d.readBigUInt64LE(off));
      d.writeBigUInt64LE(BigInt(newSize), off);
      await writeFile(path, d);
      return old;
    }
  }
  throw new Error('no virtual disk size item');
}

export const isRoot = process.getuid?.() === 0;

/**
 * A small ext4 filesystem (no journal, no reserved blocks) in a file, loop-mounted in a fresh temp
 * dir (needs root). `unmount` removes everything, also the loop device (mount -o loop sets autoclear).
 */
export async function loopFs(sizeMiB: number): Promise<{ mnt: string; unmount: () => Promise<void> }> {
  const fs = await makeLoopFs('ext4', sizeMiB);
  return { mnt: fs.dir, unmount: () => fs.cleanup() };
}

/** Fills a filesystem until only `leaveBytes` are free (a filler file, deleted by the caller). */
export async function fillUp(dir: string, leaveBytes: number): Promise<string> {
  const { statfs } = await import('node:fs/promises');
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  const filler = join(dir, 'filler');
  const size = Math.max(0, free - leaveBytes);
  await run('fallocate', ['-l', String(size), filler]);
  return filler;
}

/**
 * A TCP proxy in front of the server that cuts the connection (both ways, like a dropped LAN)
 * each time the bytes sent by clients cross the next of `cutAt` (cumulative byte counts).
 */
export async function cuttingProxy(
  target: string,
  cutAt: number[],
  onCut?: (n: number) => void,
  stallAt?: number,
): Promise<{
  url: string;
  cuts: () => number;
  stalled: () => boolean;
  unstall: () => void;
  close: () => Promise<void>;
}> {
  const { createServer, connect } = await import('node:net');
  const t = new URL(target);
  const pending = [...cutAt].sort((a, b) => a - b);
  let sent = 0;
  let cuts = 0;
  // past stallAt nothing is forwarded any more (a link that hangs) until unstall()
  let stalled = false;
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(t.port), t.hostname);
    sockets.add(client).add(upstream);
    let dead = false;
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (b: Buffer) => {
      // nothing after a cut may get through: TCP never skips bytes
      if (dead) return;
      if (stallAt !== undefined && !stalled && sent + b.length >= stallAt) stalled = true;
      if (stalled) {
        client.pause();
        held.push(() => {
          if (!dead) upstream.write(b);
          client.resume();
        });
        return;
      }
      const next = pending[0];
      if (next !== undefined && sent + b.length >= next) {
        // forward up to the cut, then drop the connection
        upstream.write(b.subarray(0, next - sent));
        dead = true;
        sent = next;
        pending.shift();
        cuts++;
        onCut?.(cuts);
        setImmediate(kill);
        return;
      }
      sent += b.length;
      if (!upstream.write(b)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (b: Buffer) => client.write(b));
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => {
      upstream.end();
      sockets.delete(client);
    });
    upstream.on('close', () => {
      client.end();
      sockets.delete(upstream);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    cuts: () => cuts,
    stalled: () => stalled,
    unstall: () => {
      stallAt = undefined;
      stalled = false;
      for (const f of held.splice(0)) f();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** An image whose uploaded file (a copy of `file`) is stored and whose conversion is queued. */
export async function uploadedImage(t: TestContext, file: string, filename: string, name: string) {
  const img = await t.container.images.create({ name }, 'tester', { source_filename: filename });
  const staging = join(t.container.imageFiles.uploadsDir, `test-${img.id}`);
  await run('mkdir', ['-p', t.container.imageFiles.uploadsDir]);
  await copyFile(file, staging);
  const r = await t.container.uploads.complete(img.id, staging, {
    size: (await stat(file)).size,
    sha256: await sha256(file),
  });
  if (r.kind !== 'image') throw new Error('expected an image upload, got an install medium');
  return { imageId: img.id, jobId: r.jobId };
}
