import type { Logger } from 'pino';
import type { EventBus } from '../../events/event-bus.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { AlertsService } from './alerts.service.js';

/**
 * The background check: every alerts.intervalSec (read again after each check, so a change applies
 * without a restart), and soon after a writeback is discarded, created or applied, so that an alert on
 * it clears at once.
 */
export class AlertsMonitor {
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;

  constructor(
    private readonly alerts: AlertsService,
    private readonly settings: SettingsService,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.bus.subscribe((e) => {
      if (e.type === 'writeback.discarded' || e.type === 'writeback.created' || e.type === 'settings.updated')
        this.checkSoon();
    });
    this.schedule(0);
  }

  private checkSoon(): void {
    if (this.stopped || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.tick(false);
    }, 1000);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(true), ms);
  }

  private async tick(reschedule: boolean): Promise<void> {
    const p = this.alerts
      .check()
      .then(() => undefined)
      .catch((err) => this.log.error({ err }, 'alerts check failed'));
    this.running = p;
    await p;
    this.running = null;
    if (reschedule) {
      const s = await this.settings.get().catch(() => null);
      this.schedule((s?.alerts.intervalSec ?? 60) * 1000);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = this.soon = null;
    await this.running;
  }
}
