import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { ConfigSchema } from '../apps/server/src/config/config.schema.js';
import { createContainer, type Container } from '../apps/server/src/container.js';
import { migrateToLatest } from '../apps/server/src/db/database.js';
import { SpawnProcessRunner } from '../apps/server/src/adapters/process/process-runner.adapter.js';

export const runner = new SpawnProcessRunner();
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await runner.run(cmd, args, { timeoutMs: 3600_000 });
  return r.stdout;
}

/** Percentile by nearest rank (p in 0..100). */
export function pct(sorted: number[], p: number): number {
  const i = Math.max(0, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.min(i, sorted.length - 1)]!;
}

export function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: pct(s, 50),
    p99: pct(s, 99),
    min: s[0]!,
    max: s.at(-1)!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

export const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ port: 0, host: '127.0.0.1' }, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export function freeControlPort(): number {
  for (;;) {
    const p = 10000 + Math.floor(Math.random() * 22000);
    if (!existsSync(`/var/run/tgtd/socket.${p}`)) return p;
  }
}

/** An XFS (reflink=1) filesystem in a sparse loop file under dir, mounted; cleanup unmounts and deletes. */
export async function loopXfs(sizeGiB: number, parent = tmpdir()) {
  const base = mkdtempSync(join(parent, 'ggnet-bench-'));
  const img = join(base, 'fs.img');
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  const fh = await open(img, 'w');
  await fh.truncate(sizeGiB * GiB);
  await fh.close();
  await sh('mkfs.xfs', ['-q', '-m', 'reflink=1', img]);
  await sh('mount', ['-o', 'loop', img, mnt]);
  return {
    dir: mnt,
    cleanup: async () => {
      for (let i = 0; i < 40; i++) {
        try {
          await sh('umount', [mnt]);
          break;
        } catch {
          await sleep(250);
        }
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** A GGnet container (SQLite) in dataDir with its own tgtd on a loopback portal. */
export async function benchContainer(dataDir: string) {
  const portalPort = await freePort();
  const controlPort = freeControlPort();
  const config = ConfigSchema.parse({
    dataDir,
    logLevel: 'silent',
    jwtSecret: randomBytes(32).toString('hex'),
    tgtControlPort: controlPort,
    settings: { iscsi: { portal: `127.0.0.1:${portalPort}` }, storage: { reserveBytes: 0 } },
  });
  const c = createContainer(config, { log: pino({ level: process.env.BENCH_LOG ?? 'silent' }) });
  await migrateToLatest(c.database);
  await c.iscsi.start();
  return {
    c,
    portalPort,
    controlPort,
    close: async () => {
      await c.iscsi.stop(true);
      await c.close();
    },
  };
}

/**
 * A published version whose raw file has `sizeGiB` virtual size and data written as `chunkMiB`
 * pieces every `everyMiB` (dense when equal): the layout decides the extent count a clone walks.
 */
export async function seedVersion(
  c: Container,
  name: string,
  opts: { sizeGiB: number; chunkMiB: number; everyMiB: number },
) {
  const imageId = randomUUID();
  const versionId = randomUUID();
  const rel = c.imageFiles.versionRelPath(imageId, versionId);
  const file = c.imageFiles.inside(rel);
  mkdirSync(join(file, '..'), { recursive: true });
  const fh = await open(file, 'w');
  const size = opts.sizeGiB * GiB;
  const chunk = randomBytes(opts.chunkMiB * MiB);
  let dataBytes = 0;
  for (let off = 0; off + chunk.length <= size; off += opts.everyMiB * MiB) {
    // vary the data so no filesystem dedups it
    chunk.writeUInt32LE(off / MiB, 0);
    await fh.write(chunk, 0, chunk.length, off);
    dataBytes += chunk.length;
  }
  await fh.truncate(size);
  await fh.sync();
  await fh.close();
  const now = new Date().toISOString();
  await c.repos.images.insert({
    id: imageId,
    name,
    description: '',
    os_type: 'windows',
    state: 'ready',
    error: null,
    source_format: 'raw',
    source_filename: null,
    source_size: size,
    source_sha256: null,
    published_version_id: versionId,
    created_by: 'bench',
    created_at: now,
    updated_at: now,
  });
  await c.repos.images.insertVersion({
    id: versionId,
    image_id: imageId,
    number: 1,
    state: 'ready',
    comment: 'bench',
    author: 'bench',
    size_bytes: size,
    sha256: null,
    protected: 0,
    parent_version_id: null,
    path: rel,
    error: null,
    created_at: now,
    ready_at: now,
  });
  // FIEMAP records (filefrag's summary merges physically adjacent ones)
  const extents = (await sh('filefrag', ['-v', file]))
    .split('\n')
    .filter((l) => /^\s*\d+:\s+\d+\.\./.test(l)).length;
  return { imageId, versionId, file, sizeBytes: size, dataBytes, extents };
}

/** Cleans up (tgtd, loop mount) also when the run is interrupted with Ctrl-C or SIGTERM. */
export function onInterrupt(cleanup: () => Promise<void>): void {
  const handler = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: cleaning up...\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

export function randomMac(): string {
  return `52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`;
}

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(w[i]!)).join('  ');
  return [
    line(cols),
    line(w.map((n) => '-'.repeat(n))),
    ...rows.map((r) => line(cols.map((c) => String(r[c])))),
  ].join('\n');
}
