import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SupervisedDaemon } from '../process/supervisor.js';
import type { TgtDriver } from './tgt.adapter.js';
import { foreignTgtd, netnsOf, tgtLockHolder } from './tgt-owner.js';
import { tgtSocketPath } from './tgt-socket.js';

export interface TgtDaemonOptions {
  dataDir: string;
  controlPort: number;
  /** host:port the daemon listens on at start; later changes are applied live with tgtadm (ensurePortal). */
  portal: string;
  tgtdPath?: string;
  /**
   * NOP-In pings to every initiator every this many seconds; after nopCount unanswered ones tgtd
   * drops the connection. Without them, a client that powered off (no iSCSI logout, which is what a
   * diskless OS does) stays "logged in" until TCP keepalive gives up (tgtd: 30 min + 6 x 5 min), so its
   * session never goes idle and a maintenance disk cannot be applied. iPXE does not answer pings: its
   * connection is dropped after the same time and iPXE reopens it on the next read (SAN reopen).
   */
  nopIntervalSec?: number;
  nopCount?: number;
  /** Name in logs and events (`tgtd`, `tgtd#1`, ... when several run). */
  name?: string;
  /** Start tgtd with TGTD_MALLOC_TUNABLES (config tgtdTuning, default on). */
  heapBuffers?: boolean;
  /** The environment tgtd starts with (default: GGnet's own). */
  env?: NodeJS.ProcessEnv;
}

export const TGT_NOP_INTERVAL_SEC = 5;
export const TGT_NOP_COUNT = 3;

export { tgtSocketPath };

/**
 * glibc malloc tunables GGnet's tgtd starts with. tgt allocates the data buffer of every iSCSI
 * command with posix_memalign (1 MiB for a 1 MiB read) and frees it when the response is sent. Above
 * glibc's mmap threshold (128 KiB; its dynamic raise does not take for these aligned blocks) each
 * of them is a fresh mmap: page faults that zero the memory, then munmap. strace on tgtd while 8
 * clients read 2 GiB in 1 MiB requests: 2048 mmap and 2048 munmap calls, one pair per command; perf:
 * about a third of tgtd's CPU in exc_page_fault, clear_page and unmap. With the
 * threshold at glibc's maximum (32 MiB) the buffers come from and go back to the heap: tgtd's CPU per
 * GiB served halves and 8 clients read ~1.8x faster (bench/README "iscsi-read"). tgtd keeps the heap
 * its busiest moment needed (about 50 MiB after 8 clients x 16 x 1 MiB in flight, against 5 MiB).
 */
export const TGTD_MALLOC_TUNABLES: Readonly<Record<string, string>> = {
  'glibc.malloc.mmap_threshold': String(32 * 1024 * 1024),
};

/**
 * The environment for tgtd: `base` with TGTD_MALLOC_TUNABLES added to its GLIBC_TUNABLES; a tunable
 * already there (an admin's Environment= in the unit) is kept as it is.
 */
export function tgtdEnv(base: NodeJS.ProcessEnv, heapBuffers = true): NodeJS.ProcessEnv {
  if (!heapBuffers) return base;
  const own = (base.GLIBC_TUNABLES ?? '').split(':').filter((kv) => kv.includes('='));
  const set = new Set(own.map((kv) => kv.slice(0, kv.indexOf('='))));
  const add = Object.entries(TGTD_MALLOC_TUNABLES)
    .filter(([k]) => !set.has(k))
    .map(([k, v]) => `${k}=${v}`);
  return { ...base, GLIBC_TUNABLES: [...own, ...add].join(':') };
}

/** The tgtd holding the control port is `pid`, in our network namespace. */
export const tgtdIsOurs = (controlPort: number, pid: number): boolean =>
  tgtLockHolder(controlPort) === pid && netnsOf(pid) === netnsOf('self');

/**
 * GGnet's own tgtd: its own control port and portal, supervised (health check = the control port's
 * lock is held by our process, in our network namespace, and it answers `show sys`), kept running
 * when GGnet stops (booted clients keep their disks) and adopted through its pid file by the next
 * GGnet. A control port held by any other tgtd (another GGnet's, left in another network namespace:
 * the control socket is a file that all namespaces share) is a conflict: GGnet neither starts a
 * second one in a loop nor sends the foreign one anything. tgtd ignores SIGTERM: it is stopped by
 * deleting its targets and then the system with tgtadm.
 */
export function createTgtDaemon(opts: TgtDaemonOptions, driver: TgtDriver, log: Logger): SupervisedDaemon {
  const run = join(opts.dataDir, 'run');
  const logs = join(opts.dataDir, 'logs');
  mkdirSync(run, { recursive: true, mode: 0o700 });
  mkdirSync(logs, { recursive: true, mode: 0o700 });
  const port = opts.controlPort;
  const daemon = new SupervisedDaemon(
    {
      name: opts.name ?? 'tgtd',
      command: opts.tgtdPath ?? 'tgtd',
      env: tgtdEnv(opts.env ?? process.env, opts.heapBuffers ?? true),
      args: [
        '-f',
        '-C',
        String(port),
        '--iscsi',
        `portal=${opts.portal},nop_interval=${opts.nopIntervalSec ?? TGT_NOP_INTERVAL_SEC},nop_count=${opts.nopCount ?? TGT_NOP_COUNT}`,
      ],
      logFile: join(logs, `tgtd.${port}.log`),
      pidFile: join(run, `tgtd.${port}.pid`),
      // ownership first: the socket is only asked once its holder is known to be this process
      healthCheck: async (pid) => tgtdIsOurs(port, pid) && driver.healthy(true),
      foreign: (ownPid) => foreignTgtd(port, ownPid)?.message ?? null,
      startTimeoutMs: 10_000,
      healthIntervalMs: 3000,
      unhealthyAfter: 3,
      keepOnShutdown: true,
      gracefulStop: async (pid) => {
        if (!tgtdIsOurs(port, pid)) return;
        await driver.shutdownDaemon(true);
        // tgtd leaves its socket files behind; a stale one would make the next start wait
        if (tgtLockHolder(port) === null)
          for (const f of [tgtSocketPath(port), `${tgtSocketPath(port)}.lock`]) rmSync(f, { force: true });
      },
    },
    log,
  );
  return daemon;
}
