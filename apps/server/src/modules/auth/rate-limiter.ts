/**
 * Fixed-window counter per key (e.g. `ip:10.0.0.5`, `user:admin`). In memory: one GGnet process
 * serves the API; a restart resets the windows, which is acceptable for a login limiter.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `key` may try again, or 0 when it is under the limit. */
  retryAfter(key: string): number {
    const w = this.windows.get(key);
    if (!w || w.resetAt <= this.now()) return 0;
    return w.count >= this.limit ? Math.max(1, Math.ceil((w.resetAt - this.now()) / 1000)) : 0;
  }

  /** Hits of `key` in its current window. */
  count(key: string): number {
    const w = this.windows.get(key);
    return !w || w.resetAt <= this.now() ? 0 : w.count;
  }

  hit(key: string): void {
    const t = this.now();
    const w = this.windows.get(key);
    if (!w || w.resetAt <= t) this.windows.set(key, { count: 1, resetAt: t + this.windowMs });
    else w.count++;
    if (this.windows.size > 10_000) this.prune();
  }

  reset(key: string): void {
    this.windows.delete(key);
  }

  private prune() {
    const t = this.now();
    for (const [k, w] of this.windows) if (w.resetAt <= t) this.windows.delete(k);
  }
}
