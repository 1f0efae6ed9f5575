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

  get connections(): number {
    return this.open.size;
  }

  private retire(c: { read: number; written: number }): void {
    this.closedRead += c.read;
    this.closedWritten += c.written;
  }
}
