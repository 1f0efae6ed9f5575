import type { Logger } from 'pino';
import type { PowerSchedules } from './schedules.service.js';
import type { WakeService } from './wake.service.js';

/**
 * The scheduler loop: a tick at start (a slot missed while GGnet was down fires late or is
 * skipped), then one at each schedule's next slot, and at least every 30 s (a schedule created or
 * changed, the time zone changed, another process's changes).
 */
export class PowerScheduler {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly schedules: PowerSchedules,
    private readonly log: Logger,
    private readonly maxWaitMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.stopped = false;
    this.loop();
  }

  private loop(): void {
    if (this.stopped) return;
    this.ticking = (async () => {
      let wait = this.maxWaitMs;
      try {
        await this.schedules.tick();
        const due = await this.schedules.nextDue();
        if (due !== null) wait = Math.min(this.maxWaitMs, Math.max(250, due - this.now() + 50));
      } catch (err) {
        this.log.error({ err }, 'power scheduler tick failed');
      }
      if (!this.stopped) this.timer = setTimeout(() => this.loop(), wait);
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
  }
}

/** Background service: the scheduler; on shutdown, packets not sent yet are dropped (and logged). */
export async function startPowerServices(c: {
  powerSchedules: PowerSchedules;
  wake: WakeService;
  log: Logger;
}): Promise<() => Promise<void>> {
  const scheduler = new PowerScheduler(c.powerSchedules, c.log);
  scheduler.start();
  return async () => {
    await scheduler.stop();
    const dropped = c.wake.queue.clear();
    if (dropped) c.log.warn({ dropped }, 'shutdown: magic packets not sent');
    await c.wake.queue.drain();
  };
}
