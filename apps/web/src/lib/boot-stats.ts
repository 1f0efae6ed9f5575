import type { Session } from '@ggnet/contracts';

export interface BootBucket {
  /** Start of the hour (epoch ms). */
  start: number;
  count: number;
  /** Median seconds from boot request to OS up, null when no boot finished in that hour. */
  medianSec: number | null;
  maxSec: number | null;
  failed: number;
}

const HOUR = 3_600_000;

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Boot times of the last `hours` hours per hour: a boot is the time from the session's start (the
 * boot script was asked for) to `activeAt` (the OS logged in to its disk).
 */
export function bootBuckets(sessions: Session[], now: number, hours = 24): BootBucket[] {
  const end = Math.floor(now / HOUR) * HOUR + HOUR;
  const first = end - hours * HOUR;
  const times: number[][] = Array.from({ length: hours }, () => []);
  const failed = new Array<number>(hours).fill(0);
  for (const s of sessions) {
    const t = Date.parse(s.startedAt);
    if (!Number.isFinite(t) || t < first || t >= end) continue;
    const i = Math.floor((t - first) / HOUR);
    if (s.activeAt) {
      const d = (Date.parse(s.activeAt) - t) / 1000;
      if (Number.isFinite(d) && d >= 0) times[i]!.push(d);
    } else if (s.state === 'ended' && s.endReason === 'error') {
      failed[i]!++;
    }
  }
  return times.map((xs, i) => ({
    start: first + i * HOUR,
    count: xs.length,
    medianSec: median(xs),
    maxSec: xs.length ? Math.max(...xs) : null,
    failed: failed[i]!,
  }));
}

export function overallMedian(sessions: Session[], now: number, hours = 24): number | null {
  const since = now - hours * HOUR;
  const xs: number[] = [];
  for (const s of sessions) {
    const t = Date.parse(s.startedAt);
    if (!s.activeAt || t < since) continue;
    const d = (Date.parse(s.activeAt) - t) / 1000;
    if (d >= 0) xs.push(d);
  }
  return median(xs);
}
