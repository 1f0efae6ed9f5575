import type { SettingsService } from '../settings/settings.service.js';
import type { JobContext, JobHandler } from '../jobs/job-types.js';
import type { AlertsService } from './alerts.service.js';

export const CLEANUP_JOB = 'alerts.cleanup';

/**
 * `alerts.cleanup` (every hour): when alerts.cleanupEnabled is on (off by default), discards the kept
 * writebacks unused for alerts.cleanupAfterDays, each audited as `writeback.cleanup`. A no-op otherwise.
 */
export class AlertsCleanupJob implements JobHandler {
  readonly type = CLEANUP_JOB;

  constructor(
    private readonly deps: { alerts: AlertsService; settings: SettingsService; now?: () => number },
  ) {}

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    if (!(await this.deps.settings.get()).alerts.cleanupEnabled) return { enabled: false, discarded: 0 };
    ctx.progress({ stage: 'cleaning', percent: 0 });
    const r = await this.deps.alerts.cleanup(
      undefined,
      { username: null, userId: null, via: 'schedule' },
      (this.deps.now ?? Date.now)(),
    );
    if (r.discarded.length)
      ctx.log.info({ discarded: r.discarded }, 'scheduled cleanup discarded kept writebacks');
    return { enabled: true, discarded: r.discarded.length, failed: r.failed.length };
  }
}
