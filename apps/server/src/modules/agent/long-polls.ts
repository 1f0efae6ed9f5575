/**
 * Bounded long polls, one per key (a boot session): a newer wait of a key answers the older one at
 * once, `wake` answers a key's wait, and no more than `max` waits are open on the server (the one
 * over the limit returns at once). Every wait ends by its timeout or its AbortSignal.
 */
export class LongPolls {
  private readonly waiting = new Map<string, () => void>();

  constructor(private readonly max: number) {}

  has(key: string): boolean {
    return this.waiting.has(key);
  }

  get size(): number {
    return this.waiting.size;
  }

  wake(key: string): void {
    this.waiting.get(key)?.();
  }

  /** Answers every wait (the server is closing: its HTTP server waits for open requests). */
  wakeAll(): void {
    for (const done of [...this.waiting.values()]) done();
  }

  wait(key: string, ms: number, signal: AbortSignal): Promise<void> {
    this.wake(key);
    if (this.waiting.size >= this.max || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.waiting.get(key) === done) this.waiting.delete(key);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.waiting.set(key, done);
    });
  }
}
