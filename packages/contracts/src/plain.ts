// The contracts' plain values: the patterns behind the name schemas of names.ts, the value lists of
// the enums the console offers in its forms, and the byte formatter. They import nothing (no zod),
// so that the console bundles them without the schema library (the package is side-effect free);
// the schemas are built from them. One module, so that the console's pages share one small chunk.

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

/**
 * A ZFS dataset GGnet creates its zvols under, e.g. `tank/ggnet`: a pool name (starts with a letter)
 * and child names separated by single `/`; each part letters, digits, `_ - . :`, a child never
 * starting with `.` or `-` (so never `.` or `..`), at most 200 characters (GGnet appends
 * `/writebacks/<id>`; ZFS allows 255).
 */
export const ZFS_DATASET_RE = /^(?=.{1,200}$)[A-Za-z][A-Za-z0-9_.:-]*(?:\/[A-Za-z0-9_:][A-Za-z0-9_.:-]*)*$/;

export const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{1,31}$/;

export const TAG_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export const ROLES = ['admin', 'operator', 'viewer'] as const;

export const BOOT_MODES = ['normal', 'maintenance', 'local'] as const;

export const OS_TYPES = ['windows', 'linux', 'other'] as const;

/** Power (issue 14): what a schedule does, on which days, at which times of day (HH:MM). */
export const POWER_ACTIONS = ['wake', 'shutdown'] as const;
export const SCHEDULE_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export const SCHEDULE_TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$/;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * Bytes for people, in binary units: 1536 -> "1.5 KiB", 10 GiB -> "10.0 GiB", 150 GiB -> "150 GiB"
 * (`digits` decimals below 100 of a unit, none from 100 on, none for plain bytes). null, undefined
 * and non-finite values -> "—". The one byte formatter of GGnet: console, API messages and CLI.
 */
export function formatBytes(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const s = u === 0 ? String(Math.round(v)) : v.toFixed(v >= 100 ? 0 : digits);
  return `${n < 0 ? '-' : ''}${s} ${UNITS[u]}`;
}

/**
 * What the settings API answers for a write-only setting that is set (alerts.webhookSecret); sending
 * it back in a change leaves the secret as it is. (At least 16 characters, like the secret itself.)
 */
export const SECRET_MASK = '<set; write-only>';

/** Traffic samples kept per machine and for the room (server and console): 3 minutes at 3 s. */
export const TRAFFIC_HISTORY = 60;
