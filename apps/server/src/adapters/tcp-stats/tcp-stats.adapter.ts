import type { ProcessRunner } from '../process/process-runner.adapter.js';

/** One end of a TCP connection. */
export interface TcpEndpoint {
  address: string;
  port: number;
}

/**
 * The kernel's counters of one established TCP connection, seen from this host (the iSCSI target):
 * `bytesAcked` is what the peer received (an initiator's reads), `bytesReceived` what it sent (its
 * writes). `bytesSent` also counts retransmissions. All cumulative since the connection opened.
 */
export interface TcpConnectionStats {
  local: TcpEndpoint;
  remote: TcpEndpoint;
  bytesAcked: number;
  bytesSent: number;
  bytesReceived: number;
}

/** The established TCP connections on some local ports, with their byte counters. */
export interface TcpStats {
  connections(localPorts: readonly number[], signal?: AbortSignal): Promise<TcpConnectionStats[]>;
}

/** `127.0.0.1`, `[::1]`, `[::ffff:10.0.0.5]` (a v4 client of a dual-stack socket), `[fe80::1]%eth0`. */
function parseEndpoint(token: string): TcpEndpoint | null {
  const i = token.lastIndexOf(':');
  if (i <= 0) return null;
  const port = Number(token.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  let address = token.slice(0, i);
  const scope = address.indexOf('%');
  if (scope >= 0) address = address.slice(0, scope);
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) address = mapped[1]!;
  if (!address) return null;
  return { address, port };
}

const counter = (info: string, name: string): number => {
  const m = new RegExp(`(?:^|\\s)${name}:(\\d+)`).exec(info);
  // ss leaves a counter out while it is 0
  return m ? Number(m[1]) : 0;
};

/**
 * Parses `ss -t -i -n` output, with or without its header (-H) and State column (a `state` filter
 * drops it): each socket is a line `[State] Recv-Q Send-Q Local:Port Peer:Port`, its TCP info on the
 * next, indented line (or on the same line with -O).
 */
export function parseSsTcpInfo(text: string): TcpConnectionStats[] {
  const out: TcpConnectionStats[] = [];
  let cur: { local: TcpEndpoint; remote: TcpEndpoint; info: string } | null = null;
  const flush = () => {
    if (!cur) return;
    out.push({
      local: cur.local,
      remote: cur.remote,
      bytesAcked: counter(cur.info, 'bytes_acked'),
      bytesSent: counter(cur.info, 'bytes_sent'),
      bytesReceived: counter(cur.info, 'bytes_received'),
    });
    cur = null;
  };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (/^\s/.test(line)) {
      if (cur) cur.info += ` ${line.trim()}`;
      continue;
    }
    flush();
    const tokens = line.trim().split(/\s+/);
    if (tokens[0] === 'State' || tokens[0] === 'Recv-Q') continue; // the header
    // the State column is there unless a state filter was given
    const at = /^\d+$/.test(tokens[0] ?? '') ? 0 : 1;
    if (!/^\d+$/.test(tokens[at] ?? '') || !/^\d+$/.test(tokens[at + 1] ?? '')) continue;
    const local = parseEndpoint(tokens[at + 2] ?? '');
    const remote = parseEndpoint(tokens[at + 3] ?? '');
    if (!local || !remote) continue;
    cur = { local, remote, info: tokens.slice(at + 4).join(' ') };
  }
  flush();
  return out;
}

/** The `ss` filter arguments for "local port is one of ports": `( sport = :3260 or sport = :3261 )`. */
export function sportFilter(ports: readonly number[]): string[] {
  const args: string[] = ['('];
  ports.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`not a TCP port: ${p}`);
    if (i) args.push('or');
    args.push('sport', '=', `:${p}`);
  });
  args.push(')');
  return args;
}

/** iproute2's `ss` (sock_diag underneath): no root needed to read other processes' TCP counters. */
export class SsTcpStats implements TcpStats {
  constructor(
    private readonly runner: ProcessRunner,
    private readonly bin = 'ss',
  ) {}

  async connections(localPorts: readonly number[], signal?: AbortSignal): Promise<TcpConnectionStats[]> {
    if (!localPorts.length) return [];
    const r = await this.runner.run(
      this.bin,
      ['-H', '-t', '-i', '-n', 'state', 'established', ...sportFilter(localPorts)],
      { signal, timeoutMs: 10_000, env: { ...process.env, LC_ALL: 'C' } },
    );
    const wanted = new Set(localPorts);
    return parseSsTcpInfo(r.stdout).filter((c) => wanted.has(c.local.port));
  }
}
