const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * Bytes for people, in binary units: 1536 -> "1.5 KiB", 10 GiB -> "10.0 GiB", 150 GiB -> "150 GiB"
 * (`digits` decimals below 100 of a unit, none from 100 on, none for plain bytes). null, undefined
 * and non-finite values -> "—". The one byte formatter of GGnet: console, API messages and CLI.
 */
export function formatBytes(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const s = u === 0 ? String(Math.round(v)) : v.toFixed(v >= 100 ? 0 : digits);
  return `${n < 0 ? '-' : ''}${s} ${UNITS[u]}`;
}
