import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { tgtSocketPath } from './tgt-socket.js';

/**
 * Who holds a tgtd control port. tgtd takes a POSIX lock (lockf) on `/var/run/tgtd/socket.<port>.lock`
 * before it binds its management socket next to it; both are files, so they are shared by every
 * network namespace of the host. A tgtd that another GGnet (or anyone) left running on the same
 * control port answers on "our" socket, and a tgtd started by us then dies with "another tgtd is
 * using ...lock". The lock's holder (from /proc/locks) tells which process serves the socket.
 */

/** `fe:00:1564678` (hex major:minor, decimal inode) of a file, as /proc/locks writes it. */
export function lockKey(path: string): string | null {
  try {
    const s = statSync(path);
    const dev = s.dev;
    // glibc's dev_t encoding (gnu_dev_major / gnu_dev_minor)
    const major = Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
    const minor = Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & ~0xffn);
    const hex = (n: number) => n.toString(16).padStart(2, '0');
    return `${hex(major)}:${hex(minor)}:${s.ino}`;
  } catch {
    return null;
  }
}

/** The PID holding a POSIX lock on the file with that key in a /proc/locks text, or null. */
export function parseLockHolder(procLocks: string, key: string): number | null {
  for (const line of procLocks.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 4112 fe:00:1564678 0 0" (blocked waiters are "1: -> POSIX ...")
    const f = line.trim().split(/\s+/);
    if (f[1] === '->') continue;
    if (f[1] !== 'POSIX' || f[5] !== key) continue;
    const pid = Number(f[4]);
    if (Number.isInteger(pid) && pid > 0) return pid;
  }
  return null;
}

/** The process holding a tgtd control port's lock, or null when no tgtd serves that port. */
export function tgtLockHolder(controlPort: number): number | null {
  const key = lockKey(`${tgtSocketPath(controlPort)}.lock`);
  if (!key) return null;
  try {
    return parseLockHolder(readFileSync('/proc/locks', 'utf8'), key);
  } catch {
    return null;
  }
}

/** The network namespace of a process (`net:[4026531833]`), null when it cannot be read. */
export function netnsOf(pid: number | 'self'): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return null;
  }
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
  } catch {
    return '';
  }
};

/** A tgtd control port held by a process that is not GGnet's own daemon. */
export interface ForeignTgtd {
  controlPort: number;
  /** The lock holder (null: the lock is free but our tgtd could not take it, per its own log). */
  pid: number | null;
  /** The holder lives in another network namespace than GGnet (its portal is not reachable here). */
  otherNetns: boolean;
  command: string;
  /** One line for the log, /readyz, doctor and the console. */
  message: string;
}

/**
 * Checks that the tgtd serving `controlPort` is `ownPid` (our supervised child or the one in our pid
 * file) and lives in our network namespace. Returns null when it is ours or when nobody holds the port
 * (nothing to talk to), the foreign holder otherwise.
 */
export function foreignTgtd(controlPort: number, ownPid: number | null): ForeignTgtd | null {
  const holder = tgtLockHolder(controlPort);
  if (holder === null) return null;
  const ns = netnsOf(holder);
  const otherNetns = ns !== null && ns !== netnsOf('self');
  if (holder === ownPid && !otherNetns) return null;
  return describeForeign(controlPort, holder, otherNetns);
}

export function describeForeign(controlPort: number, pid: number | null, otherNetns: boolean): ForeignTgtd {
  const command = pid === null ? '' : cmdline(pid);
  const who =
    pid === null
      ? 'another tgtd'
      : `another tgtd (pid ${pid}${otherNetns ? ', in another network namespace' : ''})`;
  return {
    controlPort,
    pid,
    otherNetns,
    command,
    message:
      `${who} holds control port ${controlPort} (${tgtSocketPath(controlPort)}.lock); ` +
      "it is not GGnet's own, so GGnet sends it nothing and cannot serve disks on this port",
  };
}

/** tgtd's own words when its control port is taken (`another tgtd is using /var/run/tgtd/socket.N.lock`). */
export const TGT_PORT_TAKEN_RE = /another tgtd is using \S*socket\.(\d+)\.lock/;
