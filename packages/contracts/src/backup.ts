import { z } from 'zod';
import { Id, ListQuery, Timestamp, sortBy } from './common.js';

export const BACKUP_STATES = ['queued', 'running', 'done', 'failed'] as const;
export const BackupState = z.enum(BACKUP_STATES);
export type BackupState = z.infer<typeof BackupState>;

/** `scheduled`: the daily backup (settings backup.*); `manual`: the API or the UI; `cli`: `ggnet backup FILE`. */
export const BackupTrigger = z.enum(['scheduled', 'manual', 'cli']);
export type BackupTrigger = z.infer<typeof BackupTrigger>;

/**
 * One backup: a consistent snapshot of the database (SQLite online backup, or pg_dump) with the
 * secrets, the configuration file and the settings, in one .tar.gz. Image files are not in it.
 */
export const Backup = z.object({
  id: Id,
  /** File name in the backup directory (<data dir>/backups), or the path given to `ggnet backup`. */
  file: z.string(),
  trigger: BackupTrigger,
  state: BackupState,
  sizeBytes: z.number().int().nullable(),
  /** Last database migration in the snapshot (its schema). */
  schema: z.string().nullable(),
  dialect: z.enum(['sqlite', 'postgres']),
  error: z.string().nullable(),
  createdBy: z.string().nullable(),
  createdAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  /** The file is still there (retention or an admin may have removed it). */
  present: z.boolean(),
});
export type Backup = z.infer<typeof Backup>;

export const BACKUP_SORT_FIELDS = ['createdAt', 'sizeBytes', 'state'] as const;
export const BackupListQuery = ListQuery.extend({
  sort: sortBy(BACKUP_SORT_FIELDS),
  trigger: BackupTrigger.optional(),
});
export type BackupListQuery = z.infer<typeof BackupListQuery>;

/** What the backups page shows above the list. */
export const BackupStatus = z.object({
  dir: z.string(),
  daily: z.boolean(),
  hour: z.number().int(),
  keep: z.number().int(),
  lastSuccessAt: Timestamp.nullable(),
  lastFailure: z.object({ at: Timestamp, error: z.string() }).nullable(),
  /** Bytes used by the backup files that are present. */
  totalBytes: z.number().int(),
});
export type BackupStatus = z.infer<typeof BackupStatus>;

/** manifest.json inside a backup file. */
export const BackupManifest = z.object({
  format: z.literal('ggnet-backup'),
  formatVersion: z.literal(1),
  /** The row of this backup in the snapshot's own `backups` table. */
  backupId: z.string(),
  ggnetVersion: z.string(),
  createdAt: Timestamp,
  hostname: z.string(),
  dialect: z.enum(['sqlite', 'postgres']),
  /** Every migration applied to the database in the snapshot, in order. */
  migrations: z.array(z.string()),
  /** Files in the archive besides the manifest, with their sha256. */
  files: z.record(z.string(), z.object({ size: z.number().int(), sha256: z.string() })),
});
export type BackupManifest = z.infer<typeof BackupManifest>;
