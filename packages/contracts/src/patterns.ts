// The patterns behind the name schemas of names.ts, without zod: the console checks its forms
// with them and bundles them without the schema library (the package is side-effect free).

/** Hostname label (RFC 1123): 1-63 chars, letters/digits/hyphen, no leading/trailing hyphen. Stored lower-case. */
export const HOSTNAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const MAC_FORMS = [
  /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i,
];

/**
 * Normalises a MAC address written as `AA:BB:CC:DD:EE:FF`, `aa-bb-cc-dd-ee-ff`, `aabb.ccdd.eeff` or
 * `aabbccddeeff` to lower-case colon form. Returns null for anything else, and for addresses a NIC
 * cannot have (all zero, broadcast, multicast).
 */
export function normalizeMac(input: string): string | null {
  const s = input.trim();
  for (const re of MAC_FORMS) {
    const m = re.exec(s);
    if (!m) continue;
    // a mixed separator form such as aa:bb-cc... is a typo, not a MAC
    if (re === MAC_FORMS[0] && new Set(s.replace(/[0-9a-f]/gi, '')).size !== 1) return null;
    const octets = m.slice(1, 7).map((o) => o.toLowerCase());
    const mac = octets.join(':');
    const first = parseInt(octets[0]!, 16);
    if (mac === '00:00:00:00:00:00' || (first & 1) === 1) return null;
    return mac;
  }
  return null;
}

export const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** iSCSI qualified name (RFC 3720): iqn.yyyy-mm.reversed.domain[:identifier], lower-case. */
export const IQN_RE =
  /^iqn\.\d{4}-(0[1-9]|1[0-2])\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[a-z0-9][a-z0-9.:-]{0,190})?$/;

/** DNS domain used to build IQNs (reversed), e.g. `ggnet.lan`. */
export const DOMAIN_RE =
  /^(?=.{1,200}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{1,31}$/;

export const TAG_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
