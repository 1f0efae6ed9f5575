import type { Traffic } from '@ggnet/contracts';
import type { TrafficCounterState } from './traffic-counter.js';

/** What sessions.traffic holds (JSON): a session's totals at its last save and the counter behind them. */
export interface PersistedTraffic {
  readBytes: number;
  writtenBytes: number;
  sampledAt: string;
  counter: TrafficCounterState;
}

const nonNegative = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** The saved form, read back; null when absent or not what GGnet writes. */
export function parsePersistedTraffic(json: string | null | undefined): PersistedTraffic | null {
  if (!json) return null;
  try {
    const p = JSON.parse(json) as Partial<PersistedTraffic>;
    if (!nonNegative(p.readBytes) || !nonNegative(p.writtenBytes) || typeof p.sampledAt !== 'string')
      return null;
    return {
      readBytes: p.readBytes,
      writtenBytes: p.writtenBytes,
      sampledAt: p.sampledAt,
      counter: p.counter ?? { closedRead: 0, closedWritten: 0, open: [] },
    };
  } catch {
    return null;
  }
}

/** A session's saved totals as the API's Traffic (no rate: it is not being sampled). */
export function savedTraffic(json: string | null | undefined): Traffic | null {
  const p = parsePersistedTraffic(json);
  return p
    ? {
        readBytes: p.readBytes,
        writtenBytes: p.writtenBytes,
        readBytesPerSec: 0,
        writeBytesPerSec: 0,
        sampledAt: p.sampledAt,
      }
    : null;
}
