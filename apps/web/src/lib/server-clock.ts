/**
 * The server's clock as this browser sees it. Timestamps in API answers are the server's, so "x s
 * ago", uptimes and boot times must be measured against the server's now, not the PC's: a PC whose
 * clock is a little behind showed a session started a moment ago as "in the future".
 *
 * Every API answer carries an HTTP Date header in whole seconds: the server answered at a moment in
 * [date, date + 1 s), and that moment lies between sending the request and receiving the answer. So
 * each answer bounds offset = server - local to [date - received, date + 1 s - sent]; intersecting
 * the bounds of all answers narrows the offset to about the shortest round trip. Bounds that no
 * longer meet mean a clock was stepped (NTP, a suspended laptop): start again from the latest answer.
 */
export class ServerClock {
  private lo = Number.NEGATIVE_INFINITY;
  private hi = Number.POSITIVE_INFINITY;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly local: () => number = () => Date.now()) {}

  /** One API answer: its Date header and the local times the request left and the answer came. */
  observe(dateHeader: string | null, sentAt: number, receivedAt: number): void {
    const date = dateHeader ? Date.parse(dateHeader) : NaN;
    if (!Number.isFinite(date) || receivedAt < sentAt) return;
    const before = this.offset();
    const lo = date - receivedAt;
    const hi = date + 1000 - sentAt;
    if (Math.max(this.lo, lo) <= Math.min(this.hi, hi)) {
      this.lo = Math.max(this.lo, lo);
      this.hi = Math.min(this.hi, hi);
    } else {
      this.lo = lo;
      this.hi = hi;
    }
    // a few ms more precision is not worth re-rendering every clock on screen for
    if (Math.abs(this.offset() - before) >= 100) for (const l of this.listeners) l();
  }

  /** Calls `fn` when the estimate moves by 100 ms or more (useNow re-reads the clock at once). */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Forgets every answer (tests; the clock is then the local one again). */
  reset(): void {
    this.lo = Number.NEGATIVE_INFINITY;
    this.hi = Number.POSITIVE_INFINITY;
  }

  /** Milliseconds to add to the local clock to get the server's (0 until an answer was seen). */
  offset(): number {
    return Number.isFinite(this.lo) ? Math.round((this.lo + this.hi) / 2) : 0;
  }

  /** The server's time now, epoch ms. */
  now(): number {
    return this.local() + this.offset();
  }
}

export const serverClock = new ServerClock();

/** The server's time now (epoch ms): what timestamps from the API are compared with. */
export const serverNow = (): number => serverClock.now();
