import type { Logger } from 'pino';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import type { AuditRepository } from '../audit/audit.repository.js';
import type { RegistrationCapEvent } from '../machines/registration-policy.js';
import type { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { NewBootEvent } from '../boot-events/boot-events.repository.js';

export interface BootAuditEntry {
  /** e.g. `boot.maintenance_pin_wrong` */
  action: string;
  machineId: string | null;
  ip: string | null;
  /** What the client was answered, in HTTP terms (403 refused, 429 limited, 200 allowed). */
  status: number;
}

/**
 * What the unauthenticated boot side tells the console about itself: audit log entries (no user;
 * the client's address), boot events and WebSocket events. Callers decide how often (never once per
 * request of a flood).
 */
export class BootReports {
  constructor(
    private readonly d: {
      audit: AuditRepository;
      events: BootEventRecorder;
      bus: EventBus;
      log: Logger;
    },
  ) {}

  async audit(e: BootAuditEntry): Promise<void> {
    await this.d.audit.insert({
      at: nowIso(),
      user_id: null,
      username: null,
      action: e.action,
      method: 'GET',
      path: '/boot/ipxe',
      target_type: e.machineId ? 'machine' : null,
      target_id: e.machineId,
      status_code: e.status,
      ip: e.ip,
    });
  }

  async bootEvent(e: NewBootEvent): Promise<void> {
    await this.d.events.record(e);
  }

  /** machines.autoRegister hit a cap: WebSocket `machine.registration_capped`, audit, boot event. */
  async registrationCapped(e: RegistrationCapEvent): Promise<void> {
    this.d.bus.publish('machine.registration_capped', e.reason, e);
    await this.audit({ action: 'machine.registration_capped', machineId: null, ip: e.ip, status: 200 });
    await this.bootEvent({
      at: e.at,
      mac: e.mac,
      machineId: null,
      sessionId: null,
      kind: 'script',
      detail: { result: 'registration_capped', ...e },
    });
  }
}
