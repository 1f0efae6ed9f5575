import { createHash, randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpawnProcessRunner, type RunResult } from '../../src/adapters/process/process-runner.adapter.js';
import type { Container } from '../../src/container.js';
import { parseFuseMounts } from '../../src/adapters/qsd/qsd.adapter.js';
import type { SettingsPatch } from '@ggnet/contracts';
import { createTestContext, type Dialect, type TestContext } from './test-context.js';
import {
  alivePid,
  freeDaemonPorts,
  killPid,
  stopTgtd,
  makeLoopFs as makeKitLoopFs,
  seedImage as seedKitImage,
  type LoopFs,
  type SeededImage,
} from '@ggnet/testkit';

const MiB = 1024 * 1024;

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

export {
  alivePid,
  freeControlPort,
  freePort,
  iscsiPerf,
  stopTgtd as killTgtd,
  type LoopFs,
} from '@ggnet/testkit';

/**
 * Config for a test context with its own tgtd (random control port) and a loopback portal on a free
 * port. One daemon unless `daemons` says more (daemon i: control port + i, portal port + i, both
 * checked free).
 */
export async function iscsiConfig(extra: Record<string, unknown> = {}, daemons = 1) {
  const { portalPort, controlPort } = await freeDaemonPorts(daemons);
  return {
    portalPort,
    config: {
      tgtControlPort: controlPort,
      settings: { iscsi: { portal: `127.0.0.1:${portalPort}`, daemons } },
      ...extra,
    } as Record<string, unknown>,
  };
}

/**
 * A test context with its own tgtd (started), its data dir on an XFS (reflink) loop filesystem, and
 * `settings` applied (default: no space reserve, as the loop filesystem is small). End it with
 * closeIscsiContext(t, controlPort, () => fs.cleanup()).
 */
export async function iscsiTestContext(
  dialect: Dialect,
  settings: SettingsPatch = { storage: { reserveBytes: 0 } },
) {
  const fs = await makeLoopFs('xfs');
  const ic = await iscsiConfig({ dataDir: join(fs.dir, 'data') });
  const t = await createTestContext(dialect, { config: ic.config });
  await t.container.settings.update(settings, 'test');
  await t.container.iscsi.start();
  return { t, fs, portalPort: ic.portalPort, controlPort: ic.config.tgtControlPort as number };
}

/**
 * Ends a test context that runs its own tgtd: lets storage work finish, stops GGnet's tgtd (and kills
 * it by its PID if it lingers), closes the context, then `after` (unmount, netns down), even if
 * closing failed. Every argument may be unset (a beforeAll that failed half way).
 */
export async function closeIscsiContext(
  t: TestContext | undefined,
  controlPort: number | undefined,
  after?: () => unknown,
): Promise<void> {
  const pids = t?.container.iscsi.daemonPids ?? [];
  t?.container.reconciler.stop();
  await t?.container.storage.idle();
  await t?.container.iscsi.stop(true).catch(() => undefined);
  // every daemon of the context (control port + i), each by its own PID
  for (let i = 0; controlPort && t && i < Math.max(1, pids.length); i++) {
    const port = controlPort + i;
    const pid = pids[i] ?? alivePid(join(t.config.dataDir, 'run', `tgtd.${port}.pid`));
    // no PID of ours: whatever holds that port is not ours to stop (a foreign tgtd in a test)
    if (pid) await stopTgtd(port, pid);
  }
  try {
    await t?.close();
  } finally {
    await after?.();
  }
}

/**
 * closeIscsiContext for a context on the qcow2 backend: after its tgtd instances, its
 * qemu-storage-daemon goes (by the PID in its pid file; its FUSE exports unmount with it, any left
 * over are unmounted lazily), then the loop filesystem.
 */
export async function closeQcow2Context(
  t: TestContext | undefined,
  controlPort: number | undefined,
  fs: LoopFs | undefined,
): Promise<void> {
  const qsdPid = alivePid(join(t?.config.dataDir ?? '/nonexistent', 'run', 'qemu-storage-daemon.pid'));
  const exportsDir = t ? join(t.config.dataDir, 'exports') : null;
  await closeIscsiContext(t, controlPort, async () => {
    await t?.container.qsd.stop(true).catch(() => undefined);
    if (qsdPid) await killPid(qsdPid);
    const mounts = exportsDir
      ? parseFuseMounts(readFileSync('/proc/self/mountinfo', 'utf8'), exportsDir)
      : [];
    for (const m of mounts) await tool('umount', ['-l', m]);
    await fs?.cleanup();
  });
}

/**
 * A filesystem in a loop file that the test makes, mounts and unmounts: XFS with reflink=1 or btrfs.
 * The loop device goes with the unmount (autoclear), the file with the temp dir.
 */
export const makeLoopFs = (kind: 'xfs' | 'btrfs', sizeMiB = 1024): Promise<LoopFs> =>
  makeKitLoopFs(kind, sizeMiB);

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

export type { SeededImage } from '@ggnet/testkit';

/**
 * An image with one ready, published version: a raw file with data in its first `dataMiB` MiB and
 * a hole after it (like a real, partly filled disk).
 */
export const seedImage = (
  c: Container,
  name: string,
  opts: { sizeMiB?: number; dataMiB?: number } = {},
): Promise<SeededImage> =>
  seedKitImage(c, name, { sizeBytes: (opts.sizeMiB ?? 64) * MiB, dataBytes: (opts.dataMiB ?? 8) * MiB });

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

  /**
   * Runs one qemu-io command again (5 s each try) until it answers as expected, up to `totalMs`: a
   * disk that comes back (its LUN re-added after the daemon behind it restarted).
   */
  async cmdUntil(line: string, expect: RegExp, totalMs = 30_000): Promise<string> {
    const until = Date.now() + totalMs;
    for (;;) {
      try {
        return await this.cmd(line, expect, 5000);
      } catch (err) {
        if (Date.now() > until) throw err;
        await sleep(500);
      }
    }
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.pid === undefined) return;
    this.child.stdin!.end('quit\n');
    const until = Date.now() + 5000;
    while (this.child.exitCode === null && Date.now() < until) await sleep(50);
    if (this.child.exitCode === null) process.kill(this.child.pid, 'SIGKILL');
  }
}

export const fileExists = (p: string) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};
