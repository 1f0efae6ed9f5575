import { readFile, stat } from 'node:fs/promises';
import { normalizeMac, IPV4_RE } from '@ggnet/contracts';

/** One line of dnsmasq's lease file: `<expiry epoch s> <mac> <ip> <hostname|*> <client id|*>`. */
export interface DnsmasqLease {
  /** Seconds since the epoch; 0 = never expires (an infinite lease). */
  expires: number;
  mac: string;
  ip: string;
}

/** Parses dnsmasq's lease file (IPv4 lines; the `duid` line and DHCPv6 leases are skipped). */
export function parseDnsmasqLeases(text: string): DnsmasqLease[] {
  const out: DnsmasqLease[] = [];
  for (const line of text.split('\n')) {
    const [exp, macText, ip] = line.trim().split(/\s+/);
    if (!exp || !macText || !ip || !/^\d+$/.test(exp) || !IPV4_RE.test(ip)) continue;
    const mac = normalizeMac(macText);
    if (mac) out.push({ expires: Number(exp), mac, ip });
  }
  return out;
}

/**
 * The addresses GGnet's own dnsmasq has leased, read from its lease file (dnsmasq rewrites it on every
 * lease change, before the client can act on the answer). Read again only when the file changed.
 */
export class DnsmasqLeases {
  private cache: { mtimeMs: number; size: number; leases: DnsmasqLease[] } | null = null;

  constructor(
    private readonly file: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Unexpired addresses leased to this MAC (normalised, lower case); [] when none or no file. */
  async addressesOf(mac: string): Promise<string[]> {
    const leases = await this.load();
    const nowSec = Math.floor(this.now() / 1000);
    return leases.filter((l) => l.mac === mac && (l.expires === 0 || l.expires > nowSec)).map((l) => l.ip);
  }

  private async load(): Promise<DnsmasqLease[]> {
    let st;
    try {
      st = await stat(this.file);
    } catch {
      this.cache = null;
      return [];
    }
    if (this.cache && this.cache.mtimeMs === st.mtimeMs && this.cache.size === st.size)
      return this.cache.leases;
    const leases = parseDnsmasqLeases(await readFile(this.file, 'utf8').catch(() => ''));
    this.cache = { mtimeMs: st.mtimeMs, size: st.size, leases };
    return leases;
  }
}
