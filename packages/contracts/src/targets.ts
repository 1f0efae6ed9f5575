import { z } from 'zod';
import { Id, ListQuery, Timestamp, sortBy } from './common.js';
import { Iqn, Ipv4 } from './names.js';

export const ISCSI_BACKENDS = ['tgt', 'lio'] as const;
export const IscsiBackend = z.enum(ISCSI_BACKENDS);
export type IscsiBackend = z.infer<typeof IscsiBackend>;

export const TARGET_STATES = ['pending', 'active', 'error', 'deleting'] as const;
export const TargetState = z.enum(TARGET_STATES);

export const Lun = z.object({
  lun: z.number().int().min(0).max(255),
  kind: z.enum(['boot', 'extra']),
  imageId: Id.nullable(),
  versionId: Id.nullable(),
  writebackId: Id.nullable(),
  /** Size of the backing file in bytes. */
  sizeBytes: z.number().nullable(),
});
export type Lun = z.infer<typeof Lun>;

/** One logged-in initiator, as the target's live state reports it. */
export const Connection = z.object({ initiator: z.string(), address: z.string() });
export type Connection = z.infer<typeof Connection>;

export const Target = z.object({
  id: Id,
  iqn: z.string(),
  machineId: Id.nullable(),
  sessionId: Id.nullable(),
  backend: IscsiBackend,
  luns: z.array(Lun),
  initiatorIqn: z.string(),
  chapUser: z.string().nullable(),
  /** Only returned to admins who ask for it (`?reveal=true`). */
  chapSecret: z.string().nullable().optional(),
  mutualChap: z.boolean(),
  /** Mutual CHAP (the target's own credentials); the secret only with `?reveal=true`. */
  mutualUser: z.string().nullable(),
  mutualSecret: z.string().nullable().optional(),
  /** Where initiators connect (the portal clients use). */
  portal: z.string().nullable(),
  allowedAddress: z.string().nullable(),
  state: TargetState,
  error: z.string().nullable(),
  /** Initiators logged in right now, read from the target's live state. */
  connections: z.array(Connection),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Target = z.infer<typeof Target>;

/**
 * Manual target for admins: exposes a fresh writeback (copy-on-write clone) of an image version to one
 * initiator, e.g. to attach a machine's disk to a VM. Defaults: the machine's boot image, its published
 * version, the machine's initiator IQN and CHAP secret. The response carries the CHAP secret.
 */
export const TargetCreate = z.strictObject({
  machineId: Id,
  imageId: Id.optional(),
  versionId: Id.optional(),
  initiatorIqn: Iqn.optional(),
  /** Only this client address may stay logged in (null = any). */
  allowedAddress: Ipv4.nullable().optional(),
  mutualChap: z.boolean().default(false),
});
export type TargetCreate = z.input<typeof TargetCreate>;

export const TargetDeleteQuery = z.object({
  /** Keep the target's writeback (state `kept`) instead of discarding it. */
  keepWriteback: z.enum(['true', 'false']).optional(),
});

export const TARGET_SORT_FIELDS = ['createdAt', 'iqn'] as const;
export const TargetListQuery = ListQuery.extend({
  sort: sortBy(TARGET_SORT_FIELDS),
  machineId: Id.optional(),
  state: TargetState.optional(),
  reveal: z.enum(['true', 'false']).optional(),
});
export type TargetListQuery = z.infer<typeof TargetListQuery>;
