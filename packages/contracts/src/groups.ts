import { z } from 'zod';
import { Id, ListQuery, Timestamp, sortBy } from './common.js';
import { BOOT_MODES } from './plain.js';
import { FreeText, Ipv4 } from './names.js';

/** Where an effective machine setting comes from: the machine itself, its group, or the global default. */
export const SETTING_SOURCES = ['machine', 'group', 'default'] as const;
export const SettingSource = z.enum(SETTING_SOURCES);
export type SettingSource = z.infer<typeof SettingSource>;

const sourced = <T extends z.ZodType>(value: T) => z.object({ value, source: SettingSource });

/** Which version a disk boots: a ring release to the machine's group, else the image's published one. */
export const VERSION_SOURCES = ['ring', 'published'] as const;

/** The settings a machine boots with after inheritance (machine -> group -> global default). */
export const EffectiveSettings = z.object({
  bootImageId: sourced(Id.nullable()),
  extraImageIds: sourced(z.array(Id)),
  bootMode: sourced(z.enum(BOOT_MODES)),
  bootMenu: sourced(z.boolean()),
  keepWriteback: sourced(z.boolean()),
  /** The version of the boot image the machine boots at its next boot, and why (null: none published). */
  bootVersion: z.object({ versionId: Id.nullable(), source: z.enum(VERSION_SOURCES) }),
});
export type EffectiveSettings = z.infer<typeof EffectiveSettings>;

/** A-F hex digits separated by colons: 1 to 5 bytes of a MAC, e.g. `52:54:00`. */
export const MAC_PREFIX_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){0,4}$/;
export const MacPrefix = z
  .string()
  .trim()
  .toLowerCase()
  .transform((v) => v.replace(/-/g, ':'))
  .pipe(z.string().regex(MAC_PREFIX_RE, 'must be 1-5 bytes of a MAC such as 52:54:00'));

export const IpRange = z.strictObject({ start: Ipv4, end: Ipv4 });
export type IpRange = z.infer<typeof IpRange>;

export const GroupName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters');

/** A release of a version to a group ahead of everyone (a ring): the group boots it, not the published one. */
export const GroupRelease = z.object({
  imageId: Id,
  versionId: Id,
  releasedAt: Timestamp,
  releasedBy: z.string().nullable(),
});
export type GroupRelease = z.infer<typeof GroupRelease>;

export const Group = z.object({
  id: Id,
  name: z.string(),
  description: z.string(),
  /** The group's own values; null = not set here (the global default applies). */
  bootImageId: Id.nullable(),
  extraImageIds: z.array(Id).nullable(),
  bootMode: z.enum(BOOT_MODES).nullable(),
  bootMenu: z.boolean().nullable(),
  keepWriteback: z.boolean().nullable(),
  /** Auto-registration rules: an unknown PC whose MAC starts with one of these joins the group. */
  macPrefixes: z.array(z.string()),
  /** Auto-registration rules: an unknown PC booting from an address in one of these ranges joins the group. */
  ipRanges: z.array(IpRange),
  releases: z.array(GroupRelease),
  machineCount: z.number().int(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Group = z.infer<typeof Group>;

const groupFields = {
  name: GroupName,
  description: FreeText(500).optional(),
  bootImageId: Id.nullable().optional(),
  extraImageIds: z.array(Id).max(8).nullable().optional(),
  bootMode: z.enum(BOOT_MODES).nullable().optional(),
  bootMenu: z.boolean().nullable().optional(),
  keepWriteback: z.boolean().nullable().optional(),
  macPrefixes: z.array(MacPrefix).max(50).optional(),
  ipRanges: z.array(IpRange).max(50).optional(),
};
export const GroupCreate = z.strictObject(groupFields);
export type GroupCreate = z.input<typeof GroupCreate>;
export type GroupCreateData = z.infer<typeof GroupCreate>;
export const GroupUpdate = GroupCreate.partial();
export type GroupUpdate = z.infer<typeof GroupUpdate>;

export const GROUP_SORT_FIELDS = ['name', 'createdAt', 'updatedAt', 'machineCount'] as const;
export const GroupListQuery = ListQuery.extend({
  sort: sortBy(GROUP_SORT_FIELDS),
  /** Only groups with a ring release of this image. */
  imageId: Id.optional(),
});
export type GroupListQuery = z.infer<typeof GroupListQuery>;

// ---- staged releases (rings) -------------------------------------------------------

/** `POST /api/v1/images/{id}/release`: release a ready version to these groups before everyone. */
export const RingRelease = z.strictObject({
  versionId: Id,
  groupIds: z.array(Id).min(1).max(200),
});
export type RingRelease = z.infer<typeof RingRelease>;

/** Promote (publish to everyone) or roll back (the ring's groups go back to the published version). */
export const RingAction = z.strictObject({ versionId: Id });
export type RingAction = z.infer<typeof RingAction>;

export const RingGroupState = z.object({
  groupId: Id,
  name: z.string(),
  /** The version of this image the group's machines boot next. */
  versionId: Id.nullable(),
  source: z.enum(VERSION_SOURCES),
  releasedAt: Timestamp.nullable(),
  /** Machines of the group whose effective boot image is this image. */
  machines: z.number().int(),
  /** Live sessions of the group's machines on this image, per version they run right now. */
  running: z.array(z.object({ versionId: Id, count: z.number().int() })),
});
export type RingGroupState = z.infer<typeof RingGroupState>;

export const ImageRelease = z.object({
  imageId: Id,
  publishedVersionId: Id.nullable(),
  groups: z.array(RingGroupState),
  /** Live sessions on this image of machines in no group, per version they run. */
  others: z.array(z.object({ versionId: Id, count: z.number().int() })),
});
export type ImageRelease = z.infer<typeof ImageRelease>;
