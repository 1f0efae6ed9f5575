/** Milliseconds since some fixed point; injected so that tests move time by hand. */
export type Clock = () => number;

export interface RateLimit {
  /** Requests a key may make at once after being quiet (bucket size). */
  burst: number;
  /** Sustained rate: tokens added per minute. 0 = no limit. */
  perMinute: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per key (a MAC, a client address): a key may burst `burst` requests, then
 * `perMinute` per minute. Memory is bounded: a bucket that has filled up again is the same as no
 * bucket, so those are dropped first when `maxKeys` is reached, then the least recently used.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly now: Clock = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one token of `key` if it has one; otherwise says how long until it has. */
  take(key: string, limit: RateLimit): RateDecision {
    if (limit.perMinute <= 0) return { ok: true };
    const now = this.now();
    const burst = Math.max(1, limit.burst);
    const perMs = limit.perMinute / 60_000;
    const b = this.buckets.get(key);
    let tokens = burst;
    if (b) {
      tokens = Math.min(burst, b.tokens + Math.max(0, now - b.at) * perMs);
      this.buckets.delete(key); // re-inserted below: the Map's order is least recently used first
    } else if (this.buckets.size >= this.maxKeys) {
      this.prune(now, limit);
    }
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      return { ok: true };
    }
    this.buckets.set(key, { tokens, at: now });
    return { ok: false, retryAfterMs: Math.ceil((1 - tokens) / perMs) };
  }

  /** Gives a token back (e.g. a request that turned out not to count). */
  refund(key: string, limit: RateLimit): void {
    const b = this.buckets.get(key);
    if (b) b.tokens = Math.min(Math.max(1, limit.burst), b.tokens + 1);
  }

  /** Forgets a key (e.g. after a successful PIN the failures of that client no longer count). */
  reset(key: string): void {
    this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }

  private prune(now: number, limit: RateLimit): void {
    const burst = Math.max(1, limit.burst);
    const perMs = limit.perMinute / 60_000;
    for (const [k, b] of this.buckets) {
      if (b.tokens + (now - b.at) * perMs >= burst) this.buckets.delete(k);
    }
    // still full: drop the least recently used tenth
    if (this.buckets.size >= this.maxKeys) {
      let drop = Math.max(1, Math.floor(this.maxKeys / 10));
      for (const k of this.buckets.keys()) {
        if (drop-- <= 0) break;
        this.buckets.delete(k);
      }
    }
  }
}

/**
 * "Log once per key per interval": true the first time a key is seen and then at most once per
 * `intervalMs`; counts what was suppressed in between so that the next report can say how many.
 */
export class OncePerInterval {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: Clock = Date.now,
    private readonly maxKeys = 10_000,
  ) {}

  /** null = stay quiet; otherwise how many occurrences were suppressed since the last report. */
  due(key: string): number | null {
    const now = this.now();
    const e = this.last.get(key);
    if (e && now - e.at < this.intervalMs) {
      e.suppressed++;
      return null;
    }
    const suppressed = e?.suppressed ?? 0;
    this.last.delete(key);
    if (this.last.size >= this.maxKeys) {
      for (const [k, v] of this.last) if (now - v.at >= this.intervalMs) this.last.delete(k);
      if (this.last.size >= this.maxKeys) this.last.delete(this.last.keys().next().value!);
    }
    this.last.set(key, { at: now, suppressed: 0 });
    return suppressed;
  }
}

/**
 * Events in a sliding window (e.g. registrations in the last hour): `count()` of those younger than
 * `windowMs`. Keeps at most `max` timestamps, which is all a cap of `max` needs.
 */
export class SlidingWindowCounter {
  private readonly times: number[] = [];

  constructor(
    private readonly windowMs: number,
    private readonly now: Clock = Date.now,
  ) {}

  count(): number {
    this.expire();
    return this.times.length;
  }

  add(max: number): void {
    this.expire();
    this.times.push(this.now());
    while (this.times.length > Math.max(1, max)) this.times.shift();
  }

  /** Milliseconds until the oldest event leaves the window (0 when empty). */
  msUntilSlot(): number {
    this.expire();
    return this.times.length ? Math.max(0, this.times[0]! + this.windowMs - this.now()) : 0;
  }

  private expire(): void {
    const cut = this.now() - this.windowMs;
    while (this.times.length && this.times[0]! <= cut) this.times.shift();
  }
}
