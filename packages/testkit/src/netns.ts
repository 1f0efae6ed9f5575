import { execFileSync } from 'node:child_process';
import { alive } from './processes.js';

/** `ip ...` (iproute2), stdout as text; throws with stderr when it fails. */
export const ip = (...args: string[]): string =>
  execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Network namespaces need root (and `ip`); tests that need them are skipped otherwise, with this reason. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 with network namespace support';
  }
  return null;
}

/** Process IDs running in a namespace ([] when it is gone). */
export function netnsPids(ns: string): number[] {
  try {
    return ip('netns', 'pids', ns).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Kills (by PID) whatever still runs in a namespace this test made, then deletes it. Idempotent. */
export function removeNetns(ns: string): void {
  for (const pid of netnsPids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  try {
    ip('netns', 'del', ns);
  } catch {
    /* already gone */
  }
}

/**
 * Namespaces are named `<prefix>-<pid of the creating process>-<id>...`: this removes those an earlier
 * run left behind (their creator is gone), never one of a run still going.
 */
export function removeStaleNetns(prefix: string): void {
  let list: string[] = [];
  try {
    list = ip('netns', 'list')
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter(Boolean);
  } catch {
    return;
  }
  for (const ns of list) {
    const m = new RegExp(`^${prefix}-(\\d+)-`).exec(ns);
    if (m && !alive(Number(m[1]))) removeNetns(ns);
  }
}
