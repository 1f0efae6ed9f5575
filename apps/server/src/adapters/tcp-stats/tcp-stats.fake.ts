import type { TcpConnectionStats, TcpStats } from './tcp-stats.adapter.js';

/** Unit tests: the connections the test sets, filtered by local port like the real one. */
export class FakeTcpStats implements TcpStats {
  conns: TcpConnectionStats[] = [];
  calls: number[][] = [];

  /** Adds or updates (same local and remote endpoint) one connection's counters. */
  set(remote: string, remotePort: number, read: number, written: number, localPort = 3260): void {
    const c: TcpConnectionStats = {
      local: { address: '10.0.0.1', port: localPort },
      remote: { address: remote, port: remotePort },
      bytesAcked: read,
      bytesSent: read,
      bytesReceived: written,
    };
    const i = this.conns.findIndex(
      (x) => x.remote.address === remote && x.remote.port === remotePort && x.local.port === localPort,
    );
    if (i >= 0) this.conns[i] = c;
    else this.conns.push(c);
  }

  close(remote: string, remotePort: number): void {
    this.conns = this.conns.filter((x) => !(x.remote.address === remote && x.remote.port === remotePort));
  }

  async connections(localPorts: readonly number[]): Promise<TcpConnectionStats[]> {
    this.calls.push([...localPorts]);
    return this.conns.filter((c) => localPorts.includes(c.local.port)).map((c) => ({ ...c }));
  }
}
