import { z } from 'zod';
// first: sets zod up for the browser's CSP before any schema is built (see common.ts)
import './common.js';
import { HOSTNAME_RE, IPV4_RE, IQN_RE, normalizeMac, TAG_RE, USERNAME_RE, ZFS_DATASET_RE } from './plain.js';

// Strict schemas for every name that ever reaches a system tool or a file path (their patterns:
// patterns.ts).

export const MachineName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(
    HOSTNAME_RE,
    'must be a hostname: 1-63 letters, digits or hyphens, not starting or ending with a hyphen',
  );

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

export const Ipv4 = z.string().trim().regex(IPV4_RE, 'must be an IPv4 address such as 192.168.1.20');

export const Iqn = z
  .string()
  .max(223)
  .regex(IQN_RE, 'must be an iSCSI name such as iqn.2026-11.lan.ggnet:pc-01');

export const ZfsDataset = z
  .string()
  .regex(
    ZFS_DATASET_RE,
    'must be a ZFS dataset such as tank/ggnet: pool/child/..., letters, digits, _ - . : in each part, no empty, "." or ".." parts',
  );

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

export const Tag = z.string().trim().toLowerCase().regex(TAG_RE, 'tags are 1-32 letters, digits, _ or -');

/** Free text (descriptions, comments): printable, no control characters except newline/tab. */
export const FreeText = (max: number) =>
  z
    .string()
    .max(max)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$/, 'must not contain control characters');
