import { z } from 'zod';
// first: sets zod up for the browser's CSP before any schema is built (see common.ts)
import './common.js';

// Strict patterns for every name that ever reaches a system tool or a file path.

/** Hostname label (RFC 1123): 1-63 chars, letters/digits/hyphen, no leading/trailing hyphen. Stored lower-case. */
export const HOSTNAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const MachineName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(
    HOSTNAME_RE,
    'must be a hostname: 1-63 letters, digits or hyphens, not starting or ending with a hyphen',
  );

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

export const Mac = z.string().transform((v, ctx) => {
  const mac = normalizeMac(v);
  if (!mac) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a unicast MAC address such as 52:54:00:12:34:56, 52-54-00-12-34-56 or 5254.0012.3456',
    });
    return z.NEVER;
  }
  return mac;
});

export const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export const Ipv4 = z.string().trim().regex(IPV4_RE, 'must be an IPv4 address such as 192.168.1.20');

/** iSCSI qualified name (RFC 3720): iqn.yyyy-mm.reversed.domain[:identifier], lower-case. */
export const IQN_RE =
  /^iqn\.\d{4}-(0[1-9]|1[0-2])\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[a-z0-9][a-z0-9.:-]{0,190})?$/;
export const Iqn = z
  .string()
  .max(223)
  .regex(IQN_RE, 'must be an iSCSI name such as iqn.2026-11.lan.ggnet:pc-01');

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
export const ZfsDataset = z
  .string()
  .regex(
    ZFS_DATASET_RE,
    'must be a ZFS dataset such as tank/ggnet: pool/child/..., letters, digits, _ - . : in each part, no empty, "." or ".." parts',
  );

export const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{1,31}$/;
export const Username = z
  .string()
  .trim()
  .toLowerCase()
  .regex(USERNAME_RE, 'must be 2-32 characters: lower-case letters, digits, dot, underscore or hyphen');
export const Password = z.string().min(8, 'must be at least 8 characters').max(256);

/** Image names are shown to people and used in menus; never used as paths. */
export const ImageName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(
    /^[\p{L}\p{N}][\p{L}\p{N} ._()+-]*$/u,
    'must start with a letter or digit; letters, digits, space and . _ ( ) + - allowed',
  );

export const Tag = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'tags are 1-32 letters, digits, _ or -');

/** Free text (descriptions, comments): printable, no control characters except newline/tab. */
export const FreeText = (max: number) =>
  z
    .string()
    .max(max)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$/, 'must not contain control characters');
