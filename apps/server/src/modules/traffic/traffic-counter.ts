/** One TCP connection's cumulative counters at a sample, under a key naming its four-tuple. */
export interface ConnectionCounters {
  key: string;
  /** What the client read (server side: bytes acknowledged by the client). */
  read: number;
  /** What the client wrote (server side: bytes received). */
  written: number;
}

export interface TrafficTotals {
  readBytes: number;
  writtenBytes: number;
}

/** What a TrafficCounter knows, to carry it across a restart: the closed connections' bytes and each open one's counters. */
export interface TrafficCounterState {
  closedRead: number;
  closedWritten: number;
  /** [four-tuple key, read, written] of each open connection at the last sample. */
  open: Array<[string, number, number]>;
}

const count = (x: unknown) => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : null);

/**
 * A session's byte totals over all of its TCP connections, from samples of their cumulative
 * counters. A connection seen for the first time counts with everything it carried so far (its
 * counters start at 0 when it opens); a connection that is gone keeps its last counters in the
 * total; a four-tuple whose counters went down is a new connection (the old one closed between two
 * samples). So the totals never go back, whatever reconnects happen.
 */
export class TrafficCounter {
  private closedRead = 0;
  private closedWritten = 0;
  private readonly open = new Map<string, { read: number; written: number }>();

  update(conns: readonly ConnectionCounters[]): TrafficTotals {
    const seen = new Set<string>();
    for (const c of conns) {
      if (seen.has(c.key)) continue;
      seen.add(c.key);
      const prev = this.open.get(c.key);
      if (prev && (c.read < prev.read || c.written < prev.written)) this.retire(prev);
      this.open.set(c.key, { read: c.read, written: c.written });
    }
    for (const [key, prev] of this.open) {
      if (seen.has(key)) continue;
      this.retire(prev);
      this.open.delete(key);
    }
    return this.totals();
  }

  totals(): TrafficTotals {
    let readBytes = this.closedRead;
    let writtenBytes = this.closedWritten;
    for (const c of this.open.values()) {
      readBytes += c.read;
      writtenBytes += c.written;
    }
    return { readBytes, writtenBytes };
  }

  state(): TrafficCounterState {
    return {
      closedRead: this.closedRead,
      closedWritten: this.closedWritten,
      open: [...this.open].map(([key, c]) => [key, c.read, c.written]),
    };
  }

  /**
   * A counter that goes on from a saved state (a GGnet restarted under live clients): a connection
   * still open counts only what it carried since, one that closed meanwhile keeps its saved
   * counters. Anything malformed in the state is left out (counted from zero), never thrown.
   */
  static from(state: unknown): TrafficCounter {
    const c = new TrafficCounter();
    const s = (state ?? {}) as Partial<Record<keyof TrafficCounterState, unknown>>;
    c.closedRead = count(s.closedRead) ?? 0;
    c.closedWritten = count(s.closedWritten) ?? 0;
    if (Array.isArray(s.open))
      for (const e of s.open as unknown[]) {
        if (!Array.isArray(e) || typeof e[0] !== 'string') continue;
        const [read, written] = [count(e[1]), count(e[2])];
        if (read !== null && written !== null) c.open.set(e[0], { read, written });
      }
    return c;
  }

  get connections(): number {
    return this.open.size;
  }

  private retire(c: { read: number; written: number }): void {
    this.closedRead += c.read;
    this.closedWritten += c.written;
  }
}
