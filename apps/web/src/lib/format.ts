import { formatBytes } from '@ggnet/contracts';
import { serverNow } from './server-clock';

export { formatBytes };

export function formatRate(bytesPerSec: number | null | undefined): string {
  if (!bytesPerSec || bytesPerSec <= 0) return '—';
  return `${formatBytes(bytesPerSec)}/s`;
}

/** Seconds -> "42 s", "3 min 05 s", "2 h 07 min", "3 d 4 h". */
export function formatDuration(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec) || sec < 0) return '—';
  const s = Math.floor(sec);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Seconds with one decimal for short spans such as boot phases: 0.4 s, 12.3 s, 2 min 05 s. */
export function formatSeconds(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return '—';
  return sec < 60 ? `${sec.toFixed(1)} s` : formatDuration(sec);
}

export function secondsBetween(from: string | null | undefined, to: string | number | null | undefined) {
  if (!from || to === null || to === undefined) return null;
  const a = Date.parse(from);
  const b = typeof to === 'number' ? to : Date.parse(to);
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, (b - a) / 1000) : null;
}

/**
 * "just now", "5 min ago", "3 h ago", else a local date; `now` is the server's time (useNow). A time
 * after `now` is "just now": what the server recorded has happened, and a difference the other way
 * is the clocks disagreeing (the estimate of the server's clock is good to about a second, and
 * useNow ticks once a second).
 */
export function formatRelative(iso: string | null | undefined, now = serverNow()): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  const d = Math.max(0, (now - t) / 1000);
  if (d < 10) return 'just now';
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return formatDateTime(iso);
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? '—'
    : d.toLocaleString(undefined, {
        year: 'numeric',
        month: 'short',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
}
