import type { Settings } from '@ggnet/contracts';
import type { Logger } from 'pino';
import type { EventBus } from '../../events/event-bus.js';
import { KeyedMutex } from '../../lib/keyed-mutex.js';
import { OncePerInterval, SlidingWindowCounter, type Clock } from '../../lib/rate-limiter.js';
import type { MachinesRepository } from './machines.repository.js';

/** Why an unknown PC was not registered. */
export type RegistrationRefusal =
  /** pending: machines.pendingMax pending machines and none of them stale */
  | 'pending_full'
  /** machines.registerPerHour registrations in the last hour (pending and auto) */
  | 'per_hour'
  /** auto: machines.autoRegisterMax machines in all */
  | 'auto_total';

/** What the console hears when a cap bites: once per reason per interval, with the count refused since. */
export interface RegistrationCapEvent {
  reason: RegistrationRefusal;
  policy: 'pending' | 'auto';
  /** The setting that bit, and its value. */
  setting: string;
  cap: number;
  /** Unknown PCs refused for this reason since the previous event (this one included). */
  refused: number;
  /** When a PC can register again at the earliest (per_hour), else null. */
  retryAfterSec: number | null;
  /** The last refused PC. */
  mac: string;
  ip: string;
  at: string;
}

export type RegistrationOutcome<T> = { ok: true; value: T } | { ok: false; reason: RegistrationRefusal };

export interface RegistrationPolicyDeps {
  repo: Pick<MachinesRepository, 'count' | 'stalePending' | 'deletePending'>;
  bus: EventBus;
  log: Logger;
  /** Audit + boot events + WebSocket for a cap that bit (wired to the boot module's reports). */
  report?: (e: RegistrationCapEvent) => Promise<void>;
  now?: Clock;
  /** Minimum time between two reports of the same reason (default 10 min). */
  reportIntervalMs?: number;
}

const HOUR_MS = 3_600_000;
const REPORT_INTERVAL_MS = 10 * 60_000;

/**
 * Caps on machines registered by their first boot (machines.autoRegister), so that a stranger with
 * random MACs can neither fill the pending list for good nor create machines (and disks) without
 * end: at most machines.registerPerHour per hour; `pending`: at most machines.pendingMax pending,
 * where a pending machine not seen for machines.pendingExpireSec gives its place to a new PC
 * (oldest first); `auto`: at most machines.autoRegisterMax machines in all. Registrations run one
 * at a time, so concurrent requests cannot overshoot a cap.
 */
export class RegistrationPolicy {
  private readonly lock = new KeyedMutex();
  private readonly hour: SlidingWindowCounter;
  private readonly once: OncePerInterval;
  private readonly now: Clock;

  constructor(private readonly d: RegistrationPolicyDeps) {
    this.now = d.now ?? Date.now;
    this.hour = new SlidingWindowCounter(HOUR_MS, this.now);
    this.once = new OncePerInterval(d.reportIntervalMs ?? REPORT_INTERVAL_MS, this.now);
  }

  /** Registrations counted in the last hour (for tests and diagnostics). */
  get lastHour(): number {
    return this.hour.count();
  }

  /** Runs `create` (which registers the PC) if the caps allow one more machine now. */
  register<T>(
    policy: 'pending' | 'auto',
    m: Settings['machines'],
    client: { mac: string; ip: string },
    create: () => Promise<T>,
  ): Promise<RegistrationOutcome<T>> {
    return this.lock.run('register', async () => {
      const refusal = await this.check(policy, m);
      if (refusal) {
        await this.refused(refusal, policy, m, client);
        return { ok: false, reason: refusal };
      }
      const value = await create();
      this.hour.add(m.registerPerHour);
      return { ok: true, value };
    });
  }

  private async check(
    policy: 'pending' | 'auto',
    m: Settings['machines'],
  ): Promise<RegistrationRefusal | null> {
    if (this.hour.count() >= m.registerPerHour) return 'per_hour';
    if (policy === 'auto') return (await this.d.repo.count()) >= m.autoRegisterMax ? 'auto_total' : null;
    const pending = await this.d.repo.count(true);
    if (pending < m.pendingMax) return null;
    // full: stale pending machines (never approved, not seen for a while) make room, oldest first
    const need = pending - m.pendingMax + 1;
    const before = new Date(this.now() - m.pendingExpireSec * 1000).toISOString();
    const stale = await this.d.repo.stalePending(before, need);
    if (stale.length < need) return 'pending_full';
    const gone = await this.d.repo.deletePending(stale);
    for (const id of gone) this.d.bus.publish('machine.deleted', id, null);
    this.d.log.info(
      { expired: gone.length, pendingMax: m.pendingMax, pendingExpireSec: m.pendingExpireSec },
      'stale pending machines removed to make room for a new PC',
    );
    return gone.length < need ? 'pending_full' : null;
  }

  private async refused(
    reason: RegistrationRefusal,
    policy: 'pending' | 'auto',
    m: Settings['machines'],
    client: { mac: string; ip: string },
  ): Promise<void> {
    const suppressed = this.once.due(reason);
    if (suppressed === null) return;
    const [setting, cap] =
      reason === 'per_hour'
        ? ['machines.registerPerHour', m.registerPerHour]
        : reason === 'pending_full'
          ? ['machines.pendingMax', m.pendingMax]
          : ['machines.autoRegisterMax', m.autoRegisterMax];
    const e: RegistrationCapEvent = {
      reason,
      policy,
      setting: setting,
      cap: cap,
      refused: suppressed + 1,
      retryAfterSec: reason === 'per_hour' ? Math.ceil(this.hour.msUntilSlot() / 1000) : null,
      mac: client.mac,
      ip: client.ip,
      at: new Date(this.now()).toISOString(),
    };
    this.d.log.warn(e, 'registration of unknown PCs capped');
    await this.d
      .report?.(e)
      .catch((err: unknown) => this.d.log.error({ err }, 'reporting a registration cap failed'));
  }
}
