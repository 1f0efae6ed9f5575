import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { KeyedMutex } from '../../lib/keyed-mutex.js';
import type { ProcessRunner } from '../process/process-runner.adapter.js';
import { ExternalDaemon, type DaemonHandle } from '../process/external-daemon.js';
import { SupervisedDaemon, type DaemonState } from '../process/supervisor.js';
import { QmpConnection, QmpError } from './qmp.js';

/**
 * qemu-storage-daemon (QEMU's block layer without a VM), the session-disk backend `qcow2`: every
 * session's disk is a qcow2 overlay over the version's read-only RAW master, opened in this daemon
 * and exported as a FUSE file that tgtd serves (O_DIRECT only on QEMU >= 10: OverlayWritebackStorage.lunFlags). All overlays of a version read
 * the master through one `file` node with `cache.direct=off`, so the master's page cache is the one
 * read cache of all the version's clients.
 *
 * One daemon for all sessions (like tgtd): supervised, kept running when GGnet stops and adopted by
 * the next GGnet through its pid file, driven over QMP on a unix socket in the data dir. Or, where
 * GGnet may not mount (the shipped systemd unit), run by its own unit (`socketPath`:
 * deploy/systemd/ggnet-storage.service) and only used and watched here.
 */
export interface OverlayExport {
  /** The writeback id: the export's QMP id is `wb-<id>`. */
  id: string;
  /** qcow2 overlay file (absolute). */
  overlayPath: string;
  /** RAW master the overlay reads through (absolute, opened read-only). */
  masterPath: string;
  /** Regular file the FUSE export is mounted on (absolute). */
  mountpoint: string;
}

export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
}

export interface QsdStatus {
  state: DaemonState | 'not-started';
  pid: number | null;
  adopted: boolean;
  restarts: number;
  /**
   * Bytes the daemon read (/proc/PID/io rchar): its files (overlays, masters) from the page cache or
   * the disk, plus the data of clients' writes arriving over /dev/fuse. Null when unknown.
   */
  readBytes: number | null;
  /** Of those, bytes the kernel had to fetch from storage (/proc/PID/io read_bytes). */
  diskReadBytes: number | null;
}

export interface QemuStorageDaemon {
  /** Run by a unit of its own (ggnet-storage.service), not by GGnet: the shipped units. */
  readonly external: boolean;
  /** Starts the daemon or adopts the one a previous GGnet left running; idempotent. */
  ensureRunning(): Promise<void>;
  /** Serves an overlay as a FUSE file; an export that exists already is left as it is. */
  exportOverlay(o: OverlayExport): Promise<void>;
  /** Stops serving an overlay (export, then its nodes); one that is not served is fine. */
  unexport(id: string, mountpoint: string): Promise<void>;
  /** Ids of the overlays the daemon serves now. */
  exports(): Promise<string[]>;
  /** FUSE mounts on files under `dir` (live or dead), from /proc/self/mountinfo. */
  mounts(dir: string): Promise<string[]>;
  /** Unmounts a (dead) FUSE file lazily; not mounted is fine. */
  unmount(path: string): Promise<void>;
  status(): QsdStatus;
  /** The daemon's QEMU version (QMP query-version), null when it cannot be asked. */
  version(): Promise<QemuVersion | null>;
  /** Called after the daemon was started again (every export was lost with the old one). */
  onRestart(fn: () => void): void;
  /** Stops supervising; the daemon keeps running (booted clients keep their disks) unless force. */
  stop(force?: boolean): Promise<void>;
}

const ID_RE = /^[0-9a-f-]{36}$/;
const hash20 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 20);
/** QEMU node names are at most 31 characters: derived, stable names. */
export const qsdNames = {
  export: (id: string) => `wb-${id}`,
  overlay: (id: string) => `o${hash20(id)}`,
  overlayFile: (id: string) => `p${hash20(id)}`,
  master: (path: string) => `m${hash20(path)}`,
  masterFile: (path: string) => `n${hash20(path)}`,
};

const checkAbs = (p: string) => {
  if (!/^\/[A-Za-z0-9._/:-]+$/.test(p) || p.split('/').includes('..')) throw new Error(`invalid path: ${p}`);
  return p;
};
const checkId = (id: string) => {
  if (!ID_RE.test(id)) throw new Error(`invalid overlay id: ${id}`);
  return id;
};

/** FUSE mount points under `dir` from mountinfo text (field 5 is the mount point, octal escapes). */
export function parseFuseMounts(mountinfo: string, dir: string): string[] {
  const out: string[] = [];
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || !f[sep + 1]?.startsWith('fuse')) continue;
    const mp = (f[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp.startsWith(prefix)) out.push(mp);
  }
  return out;
}

export interface QsdOptions {
  dataDir: string;
  command?: string;
  /**
   * QMP socket of a daemon that systemd runs (config qsdSocket): GGnet does not start it; its pid
   * file is `qsd.pid` beside the socket (qemu-storage-daemon --pidfile).
   */
  socketPath?: string;
  /** The unit named in errors when that daemon does not answer. */
  unit?: string;
}

export class RealQemuStorageDaemon implements QemuStorageDaemon {
  readonly socketPath: string;
  /** Run by its own unit (not started, stopped or restarted by GGnet). */
  readonly external: boolean;
  private readonly daemon: DaemonHandle;
  private readonly qmpLock = new KeyedMutex();
  private starting: Promise<void> | null = null;
  private started = false;
  private readonly events = new EventEmitter();

  constructor(
    private readonly opts: QsdOptions,
    private readonly runner: ProcessRunner,
    private readonly log: Logger,
  ) {
    const run = join(opts.dataDir, 'run');
    const logs = join(opts.dataDir, 'logs');
    this.external = Boolean(opts.socketPath);
    this.socketPath = opts.socketPath ? checkAbs(opts.socketPath) : join(run, 'qsd.qmp.sock');
    mkdirSync(run, { recursive: true, mode: 0o700 });
    mkdirSync(logs, { recursive: true, mode: 0o700 });
    const healthCheck = () => this.qmp((q) => q.execute('query-version')).then(() => true);
    this.daemon = opts.socketPath
      ? new ExternalDaemon(
          {
            name: 'qemu-storage-daemon',
            unit: opts.unit ?? 'ggnet-storage.service',
            pidFile: join(dirname(this.socketPath), 'qsd.pid'),
            healthCheck,
            startTimeoutMs: 10_000,
            healthIntervalMs: 3000,
          },
          log,
        )
      : new SupervisedDaemon(
          {
            name: 'qemu-storage-daemon',
            command: opts.command ?? 'qemu-storage-daemon',
            args: [
              '--chardev',
              `socket,id=qmp0,path=${checkAbs(this.socketPath)},server=on,wait=off`,
              '--monitor',
              'chardev=qmp0',
            ],
            logFile: join(logs, 'qemu-storage-daemon.log'),
            pidFile: join(run, 'qemu-storage-daemon.pid'),
            healthCheck,
            startTimeoutMs: 10_000,
            healthIntervalMs: 3000,
            unhealthyAfter: 3,
            // the overlays of booted clients live in it: a GGnet restart must not end it
            keepOnShutdown: true,
            gracefulStop: async () => {
              await this.qmp((q) => q.execute('quit')).catch(() => undefined);
            },
          },
          log,
        );
    this.daemon.on('restarted', () => this.events.emit('restart'));
  }

  onRestart(fn: () => void): void {
    this.events.on('restart', fn);
  }

  /** One QMP conversation at a time (the monitor serves one client). */
  private qmp<T>(fn: (q: QmpConnection) => Promise<T>): Promise<T> {
    return this.qmpLock.run('qmp', async () => {
      const q = await QmpConnection.open(this.socketPath);
      try {
        return await fn(q);
      } finally {
        q.close();
      }
    });
  }

  ensureRunning(): Promise<void> {
    if (this.started && this.daemon.state !== 'stopped') return Promise.resolve();
    return (this.starting ??= this.daemon
      .start()
      .then(() => {
        this.started = true;
      })
      .finally(() => {
        this.starting = null;
      }));
  }

  private async nodeNames(q: QmpConnection): Promise<Set<string>> {
    const nodes = await q.execute<Array<{ 'node-name': string }>>('query-named-block-nodes', { flat: true });
    return new Set(nodes.map((n) => n['node-name']));
  }

  /** A dead FUSE mount (its daemon gone) answers ENOTCONN: lazily unmounted, then the file is reused. */
  private async prepareMountpoint(path: string, unmounted = false): Promise<void> {
    try {
      const s = await stat(path);
      if (s.isFile()) return;
      throw new Error(`${path} is not a regular file`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOTCONN' || code === 'EIO') && !unmounted) {
        await this.unmount(path);
        return this.prepareMountpoint(path, true);
      }
      if (code === 'ENOTCONN' || code === 'EIO')
        throw new Error(
          `${path} is a dead FUSE mount that GGnet may not unmount` +
            (this.external ? ' (restarting ggnet-storage.service unmounts them)' : ''),
        );
      if (code !== 'ENOENT') throw err;
    }
    await writeFile(path, '', { mode: 0o600 });
  }

  async exportOverlay(o: OverlayExport): Promise<void> {
    checkId(o.id);
    for (const p of [o.overlayPath, o.masterPath, o.mountpoint]) checkAbs(p);
    await this.ensureRunning();
    // no query of what exists (both answers grow with every served disk, which made a boot storm
    // quadratic): each node and the export are added, and "already there" counts as done
    const add = (q: QmpConnection, node: string, args: Record<string, unknown>) =>
      q.execute('blockdev-add', { 'node-name': node, ...args }).catch((err: unknown) => {
        if (!(err instanceof QmpError && /^QMP blockdev-add: Duplicate node/i.test(err.message))) throw err;
      });
    await this.qmp(async (q) => {
      const mFile = qsdNames.masterFile(o.masterPath);
      const master = qsdNames.master(o.masterPath);
      await add(q, mFile, {
        driver: 'file',
        filename: o.masterPath,
        'read-only': true,
        // the page cache of the master file is the shared read cache: never O_DIRECT here
        cache: { direct: false },
      });
      await add(q, master, { driver: 'raw', file: mFile, 'read-only': true });
      const oFile = qsdNames.overlayFile(o.id);
      const ov = qsdNames.overlay(o.id);
      await add(q, oFile, { driver: 'file', filename: o.overlayPath, cache: { direct: false } });
      await add(q, ov, { driver: 'qcow2', file: oFile, backing: master });
      await this.prepareMountpoint(o.mountpoint);
      await q
        .execute('block-export-add', {
          type: 'fuse',
          id: qsdNames.export(o.id),
          'node-name': ov,
          mountpoint: o.mountpoint,
          writable: true,
        })
        .catch((err: unknown) => {
          if (!(
            err instanceof QmpError &&
            /^QMP block-export-add: Block export id .* is already in use/i.test(err.message)
          ))
            throw err;
        });
    });
  }

  async unexport(id: string, mountpoint: string): Promise<void> {
    checkId(id);
    checkAbs(mountpoint);
    if (!this.started) await this.ensureRunning();
    await this.qmp(async (q) => {
      const eid = qsdNames.export(id);
      const exports = await q.execute<Array<{ id: string }>>('query-block-exports');
      if (exports.some((e) => e.id === eid)) {
        await q.execute('block-export-del', { id: eid }).catch((err) => {
          if (!(err instanceof QmpError && /not found|no such/i.test(err.message))) throw err;
        });
        // the export goes once its last request is done (BLOCK_EXPORT_DELETED): wait for it
        const until = Date.now() + 10_000;
        for (;;) {
          const left = await q.execute<Array<{ id: string }>>('query-block-exports');
          if (!left.some((e) => e.id === eid)) break;
          if (Date.now() > until) throw new Error(`export ${eid} did not go away`);
          await sleep(20);
        }
      }
      const nodes = await this.nodeNames(q);
      for (const n of [qsdNames.overlay(id), qsdNames.overlayFile(id)])
        if (nodes.has(n)) await q.execute('blockdev-del', { 'node-name': n });
      await this.dropUnusedMasters(q);
    });
    // a mount the daemon no longer knows (it was restarted) is dead: unmount it
    if ((await this.mounts(mountpoint.slice(0, mountpoint.lastIndexOf('/')))).includes(mountpoint))
      await this.unmount(mountpoint);
  }

  /** Master nodes no overlay reads through any more are closed (a deleted version's file is freed). */
  private async dropUnusedMasters(q: QmpConnection): Promise<void> {
    const nodes = await q.execute<Array<{ 'node-name': string; drv: string; backing_file_depth?: number }>>(
      'query-named-block-nodes',
      { flat: true },
    );
    for (const n of nodes) {
      if (!/^m[0-9a-f]{20}$/.test(n['node-name'])) continue;
      try {
        await q.execute('blockdev-del', { 'node-name': n['node-name'] });
        await q.execute('blockdev-del', { 'node-name': `n${n['node-name'].slice(1)}` });
      } catch (err) {
        // "in use" (an overlay's backing): it stays
        if (!(err instanceof QmpError)) throw err;
      }
    }
  }

  async exports(): Promise<string[]> {
    await this.ensureRunning();
    const list = await this.qmp((q) => q.execute<Array<{ id: string }>>('query-block-exports'));
    return list
      .map((e) => e.id)
      .filter((id) => /^wb-[0-9a-f-]{36}$/.test(id))
      .map((id) => id.slice(3));
  }

  async mounts(dir: string): Promise<string[]> {
    try {
      return parseFuseMounts(readFileSync('/proc/self/mountinfo', 'utf8'), dir);
    } catch {
      return [];
    }
  }

  async unmount(path: string): Promise<void> {
    checkAbs(path);
    await this.runner.run('umount', ['-l', path], { timeoutMs: 30_000, okExitCodes: [0, 32] });
  }

  private versionOf: { pid: number; version: QemuVersion } | null = null;

  async version(): Promise<QemuVersion | null> {
    await this.ensureRunning();
    const pid = this.daemon.pid;
    if (pid && this.versionOf?.pid === pid) return this.versionOf.version;
    try {
      const r = await this.qmp((q) => q.execute<{ qemu: QemuVersion }>('query-version'));
      const version = { major: r.qemu.major, minor: r.qemu.minor, micro: r.qemu.micro };
      if (pid) this.versionOf = { pid, version };
      return version;
    } catch {
      return null;
    }
  }

  status(): QsdStatus {
    const pid = this.daemon.pid;
    let io = '';
    try {
      if (pid) io = readFileSync(`/proc/${pid}/io`, 'utf8');
    } catch {
      io = '';
    }
    const field = (k: string) => {
      const m = new RegExp(`^${k}:\\s*(\\d+)$`, 'm').exec(io);
      return m ? Number(m[1]) : null;
    };
    return {
      state: this.started || this.starting ? this.daemon.state : 'not-started',
      pid,
      adopted: this.daemon.adopted,
      restarts: this.daemon.restartCount,
      readBytes: field('rchar'),
      diskReadBytes: field('read_bytes'),
    };
  }

  async stop(force = false): Promise<void> {
    if (!this.started) return;
    await this.daemon.stop(force);
    this.started = false;
  }
}
