import type { JobContext, JobHandler } from '../jobs/job-types.js';
import { PermanentJobError } from '../jobs/job-types.js';
import type { BackupService } from './backup.service.js';

export const BACKUP_JOB = 'backup.create';
export const SCHEDULED_BACKUP_JOB = 'backup.scheduled';

/** `backup.create`: makes the file of a backup queued from the API (POST /api/v1/backups). */
export class BackupJob implements JobHandler {
  readonly type = BACKUP_JOB;
  constructor(private readonly backups: BackupService) {}

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    const id = ctx.job.payload.backupId;
    if (typeof id !== 'string') throw new PermanentJobError('payload.backupId is missing');
    ctx.progress({ stage: 'backing up', percent: 0 });
    const b = await this.backups.run(id, undefined, ctx.signal);
    return { backupId: b.id, file: b.file, sizeBytes: b.sizeBytes };
  }
}

/**
 * `backup.scheduled` (every hour): the daily backup when it is due (settings backup.daily, hour),
 * then retention (backup.keep). A no-op most hours.
 */
export class ScheduledBackupJob implements JobHandler {
  readonly type = SCHEDULED_BACKUP_JOB;
  constructor(private readonly backups: BackupService) {}

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    const r = await this.backups.runScheduled(new Date(), ctx.signal);
    if (r.backup) ctx.log.info({ backup: r.backup.id, deleted: r.deleted }, 'daily backup done');
    return { backupId: r.backup?.id ?? null, deleted: r.deleted };
  }
}
