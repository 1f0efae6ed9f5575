import type { LiveEvent } from '@ggnet/contracts';
import { serverNow } from '../lib/server-clock';

export interface FeedItem extends LiveEvent {
  /** When it arrived, on the server's clock (as useNow). */
  at: number;
  seq: number;
}

const MAX = 100;
let items: FeedItem[] = [];
let seq = 0;
const listeners = new Set<() => void>();

/** Recent events for the dashboard (progress ticks left out: they would drown everything else). */
export const eventFeed = {
  push: (e: LiveEvent, at = serverNow()): void => {
    if (e.type === 'job.progress') return;
    items = [{ ...e, at, seq: ++seq }, ...items].slice(0, MAX);
    for (const l of listeners) l();
  },
  get: (): FeedItem[] => items,
  subscribe: (fn: () => void): (() => void) => {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  clear: (): void => {
    items = [];
    for (const l of listeners) l();
  },
};
