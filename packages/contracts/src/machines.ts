import { z } from 'zod';
import { Id, ListQuery, QueryBool, Timestamp, sortBy } from './common.js';
import { BOOT_MODES } from './plain.js';
import { FreeText, Ipv4, Mac, MachineName, Tag } from './names.js';
import { Traffic } from './traffic.js';
import { EffectiveSettings } from './groups.js';

export const BootMode = z.enum(BOOT_MODES);
export type BootMode = z.infer<typeof BootMode>;

/** Derived from the machine's flags and its newest session. */
export const MACHINE_STATUSES = ['pending', 'disabled', 'offline', 'booting', 'online'] as const;
export const MachineStatus = z.enum(MACHINE_STATUSES);
export type MachineStatus = z.infer<typeof MachineStatus>;

export const Machine = z.object({
  id: Id,
  name: z.string(),
  mac: z.string(),
  ip: z.string().nullable(),
  description: z.string(),
  enabled: z.boolean(),
  /** Registered by the boot endpoint and waiting for an admin's approval. */
  pending: z.boolean(),
  /** The room the machine belongs to (at most one); its settings apply where the machine sets none. */
  groupId: Id.nullable(),
  /** The machine's own values; null = inherited (group, then global default): see `effective`. */
  bootImageId: Id.nullable(),
  extraImageIds: z.array(Id).nullable(),
  keepWriteback: z.boolean().nullable(),
  bootMode: BootMode.nullable(),
  bootMenu: z.boolean().nullable(),
  /** What the machine boots with, and where each value comes from (machine, group or default). */
  effective: EffectiveSettings,
  /** Install mode: in maintenance mode, boot this ISO (media) with the writeback as the first disk. */
  installMediaId: Id.nullable(),
  tags: z.array(z.string()),
  initiatorIqn: z.string(),
  status: MachineStatus,
  sessionId: Id.nullable(),
  lastSeenAt: Timestamp.nullable(),
  lastIp: z.string().nullable(),
  /** Its live session's iSCSI traffic (see Session.traffic); null without a sampled live session. */
  traffic: Traffic.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Machine = z.infer<typeof Machine>;

const machineFields = {
  name: MachineName,
  mac: Mac,
  ip: Ipv4.nullable().optional(),
  description: FreeText(500).optional(),
  enabled: z.boolean().optional(),
  groupId: Id.nullable().optional(),
  /** Own values; null (or left out at creation) = inherit from the group, then the global default. */
  bootImageId: Id.nullable().optional(),
  extraImageIds: z.array(Id).max(8).nullable().optional(),
  keepWriteback: z.boolean().nullable().optional(),
  bootMode: BootMode.nullable().optional(),
  bootMenu: z.boolean().nullable().optional(),
  /** Install mode (needs bootMode maintenance); null ends it. Leaving maintenance ends it too. */
  installMediaId: Id.nullable().optional(),
  tags: z.array(Tag).max(20).optional(),
};

export const MachineCreate = z.strictObject(machineFields);
export type MachineCreate = z.input<typeof MachineCreate>;
export type MachineCreateData = z.infer<typeof MachineCreate>;

/** Partial update; `pending: false` approves a machine that auto-registration left pending. */
export const MachineUpdate = MachineCreate.partial().extend({ pending: z.literal(false).optional() });
export type MachineUpdate = z.infer<typeof MachineUpdate>;

export const MACHINE_SORT_FIELDS = [
  'name',
  'mac',
  'ip',
  'createdAt',
  'updatedAt',
  'lastSeenAt',
  'bootMode',
  'status',
] as const;

export const MachineListQuery = ListQuery.extend({
  sort: sortBy(MACHINE_SORT_FIELDS),
  enabled: QueryBool.optional(),
  pending: QueryBool.optional(),
  bootMode: BootMode.optional(),
  imageId: Id.optional(),
  /** Machines of this group; `none` = machines in no group. */
  groupId: z.union([Id, z.literal('none')]).optional(),
  tag: Tag.optional(),
  status: MachineStatus.optional(),
});
export type MachineListQuery = z.infer<typeof MachineListQuery>;

export const BULK_ACTIONS = [
  'enable',
  'disable',
  'assignImage',
  'setBootMode',
  'delete',
  'approve',
  'moveToGroup',
] as const;
export const MachineBulk = z.strictObject({
  ids: z.array(Id).min(1).max(1000),
  action: z.enum(BULK_ACTIONS),
  bootImageId: Id.nullable().optional(),
  /** setBootMode: null = inherit again. */
  bootMode: BootMode.nullable().optional(),
  /** moveToGroup: the group (null = out of any group). */
  groupId: Id.nullable().optional(),
});
export type MachineBulk = z.infer<typeof MachineBulk>;
export const MachineBulkResult = z.object({ affected: z.number().int() });
export type MachineBulkResult = z.infer<typeof MachineBulkResult>;

/** CSV import: a header line with at least name,mac; optional ip,description,bootMode,tags (tags separated by `;`),image,enabled,keepWriteback,group (a group's name). */
export const MachineImportRequest = z.strictObject({
  csv: z.string().min(1).max(2_000_000),
  /** Validate only: report what would happen without storing anything. */
  dryRun: z.boolean().default(false),
});
export type MachineImportRequest = z.input<typeof MachineImportRequest>;
export const MachineImportResult = z.object({
  created: z.number().int(),
  errors: z.array(z.object({ line: z.number().int(), message: z.string() })),
  dryRun: z.boolean(),
});
export type MachineImportResult = z.infer<typeof MachineImportResult>;
