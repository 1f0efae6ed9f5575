import { useSyncExternalStore } from 'react';

// One shared ticking clock for every "uptime"/"x s ago" cell instead of one timer per row.
let now = Date.now();
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(fn: () => void) {
  listeners.add(fn);
  if (!timer) {
    timer = setInterval(() => {
      now = Date.now();
      for (const l of listeners) l();
    }, 1000);
  }
  return () => {
    listeners.delete(fn);
    if (!listeners.size && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/** Epoch ms, updated once per second while some component uses it. */
export function useNow(): number {
  return useSyncExternalStore(subscribe, () => now);
}
