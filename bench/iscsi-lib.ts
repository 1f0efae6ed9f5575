import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigSchema, createContainer, migrateToLatest, type Container } from '@ggnet/server';
import { freeDaemonPorts, makeLoopFs, seedImage, sh as run } from '@ggnet/testkit';

export { freeControlPort, freePort } from '@ggnet/testkit';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A tool's stdout (argument array; an hour at most: big copies and mkfs). */
export const sh = (cmd: string, args: string[]): Promise<string> => run(cmd, args, { timeoutMs: 3600_000 });

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

/** An XFS (reflink=1) filesystem in a sparse loop file under `parent`, mounted; cleanup unmounts and deletes. */
export const loopXfs = (sizeGiB: number, parent = tmpdir()) => makeLoopFs('xfs', sizeGiB * 1024, parent);

export interface BenchContainer {
  c: Container;
  portalPort: number;
  controlPort: number;
  /** Stops GGnet's tgtd too (force) and closes the container. */
  close(): Promise<void>;
}

/**
 * A GGnet container (SQLite) in dataDir with its own tgtd on a loopback portal; `daemons` tgtd
 * instances (default 1; daemon i on control port + i and portal port + i, both checked free).
 */
export async function benchContainer(
  dataDir: string,
  daemons = 1,
  /** false: tgtd as Debian ships it (config tgtdTuning: glibc malloc defaults, 8 KiB write PDUs). */
  tgtdTuning = true,
): Promise<BenchContainer> {
  const { portalPort, controlPort } = await freeDaemonPorts(daemons);
  const config = ConfigSchema.parse({
    dataDir,
    logLevel: 'silent',
    jwtSecret: randomBytes(32).toString('hex'),
    tgtControlPort: controlPort,
    tgtdTuning,
    settings: { iscsi: { portal: `127.0.0.1:${portalPort}`, daemons }, storage: { reserveBytes: 0 } },
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
      // the qcow2 backend's qemu-storage-daemon, when a run used it
      await c.qsd.stop(true);
      await c.close();
    },
  };
}

/**
 * A GGnet container (benchContainer) on an XFS (reflink) loop filesystem of `sizeGiB` made under
 * `parent`; both are cleaned up by `cleanup`, also on Ctrl-C or SIGTERM.
 */
export async function benchOnXfs(sizeGiB: number, parent: string, daemons = 1, tgtdTuning = true) {
  const fs = await loopXfs(sizeGiB, parent);
  const bench = await benchContainer(join(fs.dir, 'data'), daemons, tgtdTuning);
  const cleanup = async () => {
    await bench.close().catch(() => undefined);
    await fs.cleanup();
  };
  onInterrupt(cleanup);
  return { ...bench, cleanup };
}

/**
 * A published version whose raw file has `sizeGiB` virtual size and data written as `chunkMiB`
 * pieces every `everyMiB` (dense when equal), `dataMiB` of them at most (default: up to the size; the
 * rest a hole): the layout decides the extent count a clone walks.
 */
export async function seedVersion(
  c: Container,
  name: string,
  opts: { sizeGiB: number; chunkMiB: number; everyMiB: number; dataMiB?: number },
) {
  const v = await seedImage(c, name, {
    sizeBytes: opts.sizeGiB * GiB,
    chunkBytes: opts.chunkMiB * MiB,
    everyBytes: opts.everyMiB * MiB,
    dataBytes: opts.dataMiB === undefined ? undefined : opts.dataMiB * MiB,
    osType: 'windows',
    by: 'bench',
  });
  // FIEMAP records (filefrag's summary merges physically adjacent ones)
  const extents = (await sh('filefrag', ['-v', v.file]))
    .split('\n')
    .filter((l) => /^\s*\d+:\s+\d+\.\./.test(l)).length;
  return { ...v, extents };
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
