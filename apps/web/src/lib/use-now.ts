import { useSyncExternalStore } from 'react';
import { serverClock, serverNow } from './server-clock';

// One shared ticking clock for every "uptime"/"x s ago" cell instead of one timer per row. It
// tells the server's time (server-clock.ts), since what it is compared with comes from the server.
let now = serverNow();
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | null = null;

function tick() {
  now = serverNow();
  for (const l of listeners) l();
}
// a better estimate of the server's clock (the first API answer) shows at once, not at the next tick
serverClock.subscribe(() => {
  if (timer) tick();
});

function subscribe(fn: () => void) {
  listeners.add(fn);
  if (!timer) {
    // nobody has read the clock since the last one left: the value may be minutes old, and React
    // renders again at once with the fresh one
    now = serverNow();
    timer = setInterval(tick, 1000);
  }
  return () => {
    listeners.delete(fn);
    if (!listeners.size && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/** The server's time (epoch ms), updated once per second while some component uses it. */
export function useNow(): number {
  return useSyncExternalStore(subscribe, () => now);
}
