import { z } from 'zod';
import { Id, ListQuery, Timestamp, sortBy } from './common.js';
import { StorageBackend } from './settings.js';

/**
 * A writeback is one machine's copy-on-write disk on top of an image version:
 *   creating -> ready (served by a target) -> kept (session ended, kept) | discarding -> discarded.
 * `applying`: being turned into a new image version. `discarded` is terminal; a writeback turned into a
 * version ends there too, with `appliedVersionId`.
 */
export const WRITEBACK_STATES = [
  'creating',
  'ready',
  'kept',
  'applying',
  'discarding',
  'discarded',
  'error',
] as const;
export const WritebackState = z.enum(WRITEBACK_STATES);
export type WritebackState = z.infer<typeof WritebackState>;

export const Writeback = z.object({
  id: Id,
  machineId: Id,
  machineName: z.string().nullable(),
  imageId: Id,
  versionId: Id,
  sessionId: Id.nullable(),
  targetId: Id.nullable(),
  /** LUN it is served as (tgt: 1 = boot disk, 2.. = extra disks). */
  lun: z.number().int().nullable(),
  backend: StorageBackend,
  state: WritebackState,
  /** Survives the end of its session (machine keep-writeback, maintenance, or an admin's choice). */
  kept: z.boolean(),
  /** Virtual size of the disk. */
  sizeBytes: z.number().nullable(),
  /** Bytes this writeback owns on disk (blocks not shared with the version); null when unknown. */
  usedBytes: z.number().nullable(),
  appliedVersionId: Id.nullable(),
  error: z.string().nullable(),
  createdAt: Timestamp,
  discardedAt: Timestamp.nullable(),
});
export type Writeback = z.infer<typeof Writeback>;

export const WRITEBACK_SORT_FIELDS = ['createdAt', 'machineName'] as const;
export const WritebackListQuery = ListQuery.extend({
  /** Default: -createdAt (newest first). */
  sort: sortBy(WRITEBACK_SORT_FIELDS),
  machineId: Id.optional(),
  imageId: Id.optional(),
  state: WritebackState.optional(),
  /** `true` = not discarded (default), `false` = discarded only, `all` = both. */
  live: z.enum(['true', 'false', 'all']).default('true'),
});
export type WritebackListQuery = z.infer<typeof WritebackListQuery>;

export const ImageStorageUsage = z.object({
  imageId: Id,
  name: z.string(),
  versionCount: z.number().int(),
  /** Allocated bytes of the version files (blocks shared between versions are counted in each). */
  versionBytes: z.number(),
  writebackCount: z.number().int(),
  /** Bytes owned by the image's live writebacks. */
  writebackBytes: z.number(),
});
export type ImageStorageUsage = z.infer<typeof ImageStorageUsage>;

export const StorageSummary = z.object({
  backend: StorageBackend,
  /** True when the backend was detected (settings storage.backend is null). */
  detected: z.boolean(),
  /** Shown in the UI: e.g. the copy backend makes a full copy per boot. */
  warning: z.string().nullable(),
  /** Filesystem path (or ZFS dataset) that holds versions and writebacks. */
  root: z.string(),
  totalBytes: z.number(),
  freeBytes: z.number(),
  reserveBytes: z.number(),
  /** New writebacks (boots) are refused while free space is below the reserve; booted clients keep running. */
  belowReserve: z.boolean(),
  versionBytes: z.number(),
  writebackBytes: z.number(),
  writebackCount: z.number().int(),
  images: z.array(ImageStorageUsage),
});
export type StorageSummary = z.infer<typeof StorageSummary>;

/** State of the iSCSI side: backend, portal, GGnet's own tgtd. */
export const IscsiStatus = z.object({
  backend: z.enum(['tgt', 'lio']),
  portal: z.string(),
  daemon: z
    .object({
      state: z.enum(['stopped', 'starting', 'running', 'restarting', 'failed']),
      pid: z.number().int().nullable(),
      adopted: z.boolean(),
      restarts: z.number().int(),
      controlPort: z.number().int(),
    })
    .nullable(),
  targets: z.number().int(),
  connections: z.number().int(),
  lastReconcileAt: Timestamp.nullable(),
  lastReconcileError: z.string().nullable(),
});
export type IscsiStatus = z.infer<typeof IscsiStatus>;

/**
 * The read cache of one version (issue 12): RAM its files hold in the page cache. On the qcow2 backend
 * every client reads through the master's one cache; a reflink clone caches apart from its master.
 */
export const VersionCache = z.object({
  imageId: Id,
  imageName: z.string(),
  versionId: Id,
  versionNumber: z.number().int(),
  sizeBytes: z.number(),
  /** Live disks (writebacks or overlays) made from this version. */
  disks: z.number().int(),
  /** Page cache held by the master file (what every qcow2 client of the version shares). */
  masterCacheBytes: z.number().nullable(),
  /** Page cache held by the version in all: master plus its disks' own files (reflink clones cache apart). */
  cacheBytes: z.number().nullable(),
});
export type VersionCache = z.infer<typeof VersionCache>;

export const StorageCache = z.object({
  backend: StorageBackend,
  /** qemu-storage-daemon of the qcow2 backend (null when it was never started). */
  daemon: z
    .object({
      state: z.string(),
      pid: z.number().int().nullable(),
      adopted: z.boolean(),
      restarts: z.number().int(),
    })
    .nullable(),
  /**
   * qcow2 backend, counted since `countingSince`: bytes qemu-storage-daemon read (masters and overlays,
   * from the page cache or the disk; plus the data of clients' writes, which arrive the same way), and
   * of those what the kernel read from disk. QEMU keeps no byte counts for its exports, so these are
   * the kernel's counters of the daemon process (/proc/PID/io rchar, read_bytes).
   */
  readBytes: z.number().nullable(),
  diskReadBytes: z.number().nullable(),
  /** 1 - diskRead / read: the share of the daemon's reads the page cache answered. */
  hitRate: z.number().nullable(),
  countingSince: Timestamp.nullable(),
  versions: z.array(VersionCache),
});
export type StorageCache = z.infer<typeof StorageCache>;
