import type { IpRange } from '@ggnet/contracts';
import { parseJson } from '../../lib/json.js';

/** An IPv4 address as a 32-bit number (the caller has validated it). */
export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export interface RuleGroup {
  id: string;
  name: string;
  mac_prefixes: string;
  ip_ranges: string;
}

/**
 * The group an unknown PC joins by the groups' auto-registration rules: the longest MAC prefix that
 * matches wins, then an address range that holds the PC's address (the narrowest first); ties go to
 * the group whose name sorts first. Null when no rule matches.
 */
export function groupByRules<G extends RuleGroup>(
  groups: readonly G[],
  mac: string,
  ip: string | null,
): G | null {
  let best: { g: G; len: number } | null = null;
  for (const g of groups) {
    for (const p of parseJson<string[]>(g.mac_prefixes, [])) {
      if (!mac.startsWith(p)) continue;
      if (!best || p.length > best.len || (p.length === best.len && g.name < best.g.name))
        best = { g, len: p.length };
    }
  }
  if (best) return best.g;
  if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return null;
  const at = ipv4ToInt(ip);
  let narrow: { g: G; size: number } | null = null;
  for (const g of groups) {
    for (const r of parseJson<IpRange[]>(g.ip_ranges, [])) {
      const a = ipv4ToInt(r.start);
      const b = ipv4ToInt(r.end);
      if (at < a || at > b) continue;
      const size = b - a;
      if (!narrow || size < narrow.size || (size === narrow.size && g.name < narrow.g.name))
        narrow = { g, size };
    }
  }
  return narrow?.g ?? null;
}
