import { formatBytes, type AlertKind, type AlertSeverity, type Settings } from '@ggnet/contracts';

/** What one sample of the space measures saw (storage summary + every live writeback's bytes). */
export interface SpaceSample {
  root: string;
  totalBytes: number;
  freeBytes: number;
  reserveBytes: number;
  writebacks: Array<{
    id: string;
    machineId: string;
    machineName: string | null;
    imageId: string;
    usedBytes: number | null;
  }>;
  images: Array<{ imageId: string; name: string; versionBytes: number; writebackBytes: number }>;
}

/** One measure against its threshold. `above`: worse when higher (bytes used); `below`: worse when lower (free). */
export interface Measure {
  key: string;
  kind: AlertKind;
  severity: AlertSeverity;
  direction: 'above' | 'below';
  subjectType: 'writeback' | 'image' | 'array';
  subjectId: string;
  subjectName: string | null;
  machineId: string | null;
  value: number;
  threshold: number;
  message: string;
}

/**
 * Whether an alert is open after this sample. Not open: it opens when the value crosses the threshold
 * (strictly above / below). Open: it stays open until the value is `hysteresisPercent` of the threshold
 * back on the good side, so a value that wobbles around the line raises one alert, not one per sample.
 */
export function isOpen(
  wasOpen: boolean,
  value: number,
  threshold: number,
  direction: 'above' | 'below',
  hysteresisPercent: number,
): boolean {
  const band = (Math.abs(threshold) * hysteresisPercent) / 100;
  if (direction === 'above') return wasOpen ? value > threshold - band : value > threshold;
  return wasOpen ? value < threshold + band : value < threshold;
}

export const alertKey = (kind: AlertKind, subjectId: string): string => `${kind}:${subjectId}`;

const pct = (n: number) => `${Math.round(n * 10) / 10} %`;

/**
 * The measures a sample yields under the settings: only thresholds that are set (a null limit is off).
 * `limits` are the per-machine soft limits of writeback bytes (they win over alerts.writebackLimitBytes).
 */
export function measures(sample: SpaceSample, s: Settings, limits: Map<string, number>): Measure[] {
  const a = s.alerts;
  const out: Measure[] = [];
  for (const w of sample.writebacks) {
    const limit = limits.get(w.machineId) ?? a.writebackLimitBytes;
    if (limit === null || limit === undefined || w.usedBytes === null) continue;
    const who = w.machineName ?? w.machineId;
    out.push({
      key: alertKey('writeback.limit', w.id),
      kind: 'writeback.limit',
      severity: 'warning',
      direction: 'above',
      subjectType: 'writeback',
      subjectId: w.id,
      subjectName: who,
      machineId: w.machineId,
      value: w.usedBytes,
      threshold: limit,
      message: `the writeback of ${who} owns ${formatBytes(w.usedBytes)}, over its soft limit of ${formatBytes(limit)}`,
    });
  }
  if (a.writebacksTotalLimitBytes !== null) {
    const total = sample.writebacks.reduce((n, w) => n + (w.usedBytes ?? 0), 0);
    out.push({
      key: alertKey('writebacks.total', 'all'),
      kind: 'writebacks.total',
      severity: 'warning',
      direction: 'above',
      subjectType: 'array',
      subjectId: 'all',
      subjectName: 'all writebacks',
      machineId: null,
      value: total,
      threshold: a.writebacksTotalLimitBytes,
      message: `${sample.writebacks.length} writebacks own ${formatBytes(total)}, over the limit of ${formatBytes(a.writebacksTotalLimitBytes)}`,
    });
  }
  if (a.imageLimitBytes !== null) {
    for (const i of sample.images) {
      const bytes = i.versionBytes + i.writebackBytes;
      out.push({
        key: alertKey('image.limit', i.imageId),
        kind: 'image.limit',
        severity: 'warning',
        direction: 'above',
        subjectType: 'image',
        subjectId: i.imageId,
        subjectName: i.name,
        machineId: null,
        value: bytes,
        threshold: a.imageLimitBytes,
        message: `image ${i.name} takes ${formatBytes(bytes)} (versions ${formatBytes(i.versionBytes)}, writebacks ${formatBytes(i.writebackBytes)}), over the limit of ${formatBytes(a.imageLimitBytes)}`,
      });
    }
  }
  if (sample.totalBytes > 0) {
    const used = ((sample.totalBytes - sample.freeBytes) / sample.totalBytes) * 100;
    out.push({
      key: alertKey('array.usage', 'root'),
      kind: 'array.usage',
      severity: used >= 95 ? 'critical' : 'warning',
      direction: 'above',
      subjectType: 'array',
      subjectId: 'root',
      subjectName: sample.root,
      machineId: null,
      value: Math.round(used * 100) / 100,
      threshold: a.arrayUsedPercent,
      message: `the storage array (${sample.root}) is ${pct(used)} full (${formatBytes(sample.freeBytes)} free of ${formatBytes(sample.totalBytes)}); the alert threshold is ${pct(a.arrayUsedPercent)}`,
    });
  }
  const floor = sample.reserveBytes + a.reserveWarnBytes;
  const below = sample.freeBytes < sample.reserveBytes;
  out.push({
    key: alertKey('array.reserve', 'root'),
    kind: 'array.reserve',
    severity: below ? 'critical' : 'warning',
    direction: 'below',
    subjectType: 'array',
    subjectId: 'root',
    subjectName: sample.root,
    machineId: null,
    value: sample.freeBytes,
    threshold: floor,
    message: below
      ? `only ${formatBytes(sample.freeBytes)} free on ${sample.root}: below the reserve of ${formatBytes(sample.reserveBytes)}, new boots are refused (booted PCs keep running)`
      : `only ${formatBytes(sample.freeBytes)} free on ${sample.root}: ${formatBytes(sample.freeBytes - sample.reserveBytes)} before the reserve of ${formatBytes(sample.reserveBytes)}, after which new boots are refused`,
  });
  return out;
}

const RANK: Record<AlertSeverity, number> = { warning: 0, critical: 1 };
/** True when `next` is worse than `prev` (an open alert that escalates is notified again). */
export const escalates = (prev: AlertSeverity, next: AlertSeverity): boolean => RANK[next] > RANK[prev];
