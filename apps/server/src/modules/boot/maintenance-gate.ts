import type { MaintenanceAccess, MaintenanceRequest } from '@ggnet/contracts';
import type { Logger } from 'pino';
import { conflict, notFound } from '../../errors/app-error.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import { KeyedRateLimiter, OncePerInterval, type Clock, type RateLimit } from '../../lib/rate-limiter.js';
import { hashPassword, verifyPassword } from '../auth/password.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { BootReports } from './boot-reports.js';
import type { BootSecretsRepository } from './boot-secrets.repository.js';
import { pinPromptScript, waitScript } from './ipxe-script.js';

/** A PIN or an approval unlocks maintenance for that MAC from that address for this long. */
export const GRANT_TTL_MS = 15 * 60_000;
/** A waiting PC asks every few seconds; a request not asked for during this long goes away. */
const REQUEST_IDLE_MS = 2 * 60_000;
/** A decision nobody picked up is dropped after this. */
const DECIDED_KEEP_MS = 10 * 60_000;
const MAX_REQUESTS = 1000;
const MAX_REQUESTS_PER_MAC = 4;
/** Wrong PINs: 5 per client address per 15 minutes, and 20 per hour from everyone together. */
export const PIN_PER_ADDRESS: RateLimit = { burst: 5, perMinute: 5 / 15 };
export const PIN_OVERALL: RateLimit = { burst: 20, perMinute: 20 / 60 };
/** How often a lock-out of PIN entry is reported (audit, WebSocket) per address, and overall. */
const LOCK_REPORT_MS = 10 * 60_000;
/** How often a waiting PC asks again. */
const POLL_SEC = 3;

export interface GateClient {
  mac: string;
  machineId: string;
  machineName: string;
  ip: string;
  /** What was typed at the PIN prompt (undefined: none asked yet; '' = ask an operator). */
  pin?: string;
}

export type GateDecision =
  | { kind: 'not_offered' }
  | { kind: 'granted'; by: 'pin' | 'operator' | 'grant' }
  | { kind: 'ask_pin'; wrong: boolean; approval: boolean }
  | { kind: 'pin_locked'; retryAfterSec: number }
  | { kind: 'pending'; request: MaintenanceRequest; lockedOut: boolean }
  | { kind: 'denied'; by: string | null };

export interface MaintenanceGateDeps {
  settings: SettingsService;
  secrets: BootSecretsRepository;
  reports: BootReports;
  bus: EventBus;
  log: Logger;
  now?: Clock;
}

/**
 * Maintenance chosen in the boot menu (its writes can become a new image version) needs the
 * maintenance PIN an admin set, or an operator's approval in the console (boot.maintenanceApproval);
 * never an anonymous keypress. Wrong PINs are rate-limited per address and overall, and audited.
 * A machine an operator put in maintenance mode itself does not pass through here.
 * Requests and grants live in memory: after a restart a waiting PC simply asks again.
 */
export class MaintenanceGate {
  private readonly now: Clock;
  private readonly requests = new Map<string, MaintenanceRequest>();
  private readonly grants = new Map<string, { ip: string; until: number }>();
  private readonly pinByAddress: KeyedRateLimiter;
  private readonly pinOverall: KeyedRateLimiter;
  private readonly lockReports: OncePerInterval;
  private pinCache: { hash: string | null } | null = null;

  constructor(private readonly d: MaintenanceGateDeps) {
    this.now = d.now ?? Date.now;
    this.pinByAddress = new KeyedRateLimiter(this.now, 10_000);
    this.pinOverall = new KeyedRateLimiter(this.now, 1);
    this.lockReports = new OncePerInterval(LOCK_REPORT_MS, this.now);
  }

  private iso(ms = this.now()): string {
    return new Date(ms).toISOString();
  }

  private async pinHash(): Promise<string | null> {
    if (!this.pinCache) this.pinCache = { hash: await this.d.secrets.pinHash() };
    return this.pinCache.hash;
  }

  /** The boot menu offers maintenance: a PIN is set or operators approve. */
  async offered(): Promise<boolean> {
    return !!(await this.pinHash()) || (await this.d.settings.get()).boot.maintenanceApproval;
  }

  async access(): Promise<MaintenanceAccess> {
    this.expire();
    const pinSet = !!(await this.pinHash());
    const approval = (await this.d.settings.get()).boot.maintenanceApproval;
    return {
      pinSet,
      approval,
      offered: pinSet || approval,
      requests: [...this.requests.values()].sort((a, b) => a.requestedAt.localeCompare(b.requestedAt)),
    };
  }

  async setPin(pin: string | null, by: string | null): Promise<{ pinSet: boolean }> {
    await this.d.secrets.setPinHash(pin === null ? null : await hashPassword(pin), by, this.iso());
    this.pinCache = null;
    // a new PIN starts with a clean slate; grants made with the old one stay until they expire
    this.pinOverall.reset('all');
    this.d.bus.publish('boot.maintenance_pin', 'maintenance-pin', { pinSet: pin !== null });
    return { pinSet: pin !== null };
  }

  /** An operator approves or denies a waiting PC's request. */
  decide(id: string, approve: boolean, by: string): MaintenanceRequest {
    this.expire();
    const r = this.requests.get(id);
    if (!r) throw notFound('maintenance request', id);
    if (r.state !== 'pending')
      throw conflict('already_decided', `this request was already ${r.state}`, 'reload the list');
    Object.assign(r, { state: approve ? 'approved' : 'denied', decidedBy: by, decidedAt: this.iso() });
    this.d.bus.publish('boot.maintenance_decided', r.id, { ...r });
    return { ...r };
  }

  /** What a PC that chose maintenance in the boot menu may do now. */
  async check(c: GateClient): Promise<GateDecision> {
    const pinHash = await this.pinHash();
    const approval = (await this.d.settings.get()).boot.maintenanceApproval;
    if (!pinHash && !approval) return { kind: 'not_offered' };
    this.expire();
    const now = this.now();
    const grant = this.grants.get(c.mac);
    if (grant && grant.ip === c.ip && grant.until > now) return { kind: 'granted', by: 'grant' };

    const req = [...this.requests.values()].find((r) => r.mac === c.mac && r.ip === c.ip);
    if (req?.state === 'approved') {
      this.requests.delete(req.id);
      this.grant(c);
      return { kind: 'granted', by: 'operator' };
    }
    if (req?.state === 'denied') {
      this.requests.delete(req.id);
      return { kind: 'denied', by: req.decidedBy };
    }
    const typed = c.pin !== undefined && c.pin !== '';
    if (req && !(typed && pinHash)) {
      req.lastSeenAt = this.iso(now);
      return { kind: 'pending', request: { ...req }, lockedOut: false };
    }
    if (pinHash && typed) return this.checkPin(c, pinHash, approval);
    if (pinHash && c.pin === undefined) return { kind: 'ask_pin', wrong: false, approval };
    // an empty PIN (or no PIN set): ask an operator
    if (approval) return { kind: 'pending', request: await this.request(c), lockedOut: false };
    return { kind: 'ask_pin', wrong: false, approval: false };
  }

  private async checkPin(c: GateClient, pinHash: string, approval: boolean): Promise<GateDecision> {
    const byAddress = this.pinByAddress.take(c.ip, PIN_PER_ADDRESS);
    const overall = byAddress.ok ? this.pinOverall.take('all', PIN_OVERALL) : null;
    if (!byAddress.ok || !overall?.ok) {
      if (byAddress.ok) this.pinByAddress.refund(c.ip, PIN_PER_ADDRESS);
      const retryMs = !byAddress.ok
        ? byAddress.retryAfterMs
        : overall && !overall.ok
          ? overall.retryAfterMs
          : 0;
      const scope = byAddress.ok ? 'overall' : `address ${c.ip}`;
      const suppressed = this.lockReports.due(scope);
      if (suppressed !== null) {
        this.d.log.warn(
          { scope, mac: c.mac, ip: c.ip, suppressed },
          'maintenance PIN entry locked: too many wrong PINs',
        );
        await this.report(c, 'boot.maintenance_pin_locked', 429, {
          scope,
          retryAfterSec: Math.ceil(retryMs / 1000),
        });
      }
      if (approval) return { kind: 'pending', request: await this.request(c), lockedOut: true };
      return { kind: 'pin_locked', retryAfterSec: Math.max(1, Math.ceil(retryMs / 1000)) };
    }
    // anything but digits cannot be the PIN: no need to spend a hash on it (it still counts)
    const ok = /^\d{4,12}$/.test(c.pin!) && (await verifyPassword(c.pin!, pinHash));
    if (ok) {
      this.pinByAddress.refund(c.ip, PIN_PER_ADDRESS);
      this.pinOverall.refund('all', PIN_OVERALL);
      this.grant(c);
      await this.report(c, 'boot.maintenance_unlocked', 200, { by: 'pin' });
      return { kind: 'granted', by: 'pin' };
    }
    this.d.log.warn({ mac: c.mac, ip: c.ip, machine: c.machineName }, 'wrong maintenance PIN');
    await this.report(c, 'boot.maintenance_pin_wrong', 403);
    return { kind: 'ask_pin', wrong: true, approval };
  }

  /** An audit entry (no user; the client's address) and the same event on the WebSocket. */
  private async report(
    c: GateClient,
    action: string,
    status: number,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    await this.d.reports.audit({ action, machineId: c.machineId, ip: c.ip, status });
    this.d.bus.publish(action, c.machineId, {
      machineId: c.machineId,
      machineName: c.machineName,
      mac: c.mac,
      ip: c.ip,
      at: this.iso(),
      ...extra,
    });
  }

  private grant(c: GateClient): void {
    this.grants.set(c.mac, { ip: c.ip, until: this.now() + GRANT_TTL_MS });
    // a request of this PC that waits in the console is answered
    for (const [id, r] of this.requests) if (r.mac === c.mac && r.ip === c.ip) this.requests.delete(id);
  }

  private async request(c: GateClient): Promise<MaintenanceRequest> {
    const existing = [...this.requests.values()].find((r) => r.mac === c.mac && r.ip === c.ip);
    if (existing) {
      existing.lastSeenAt = this.iso();
      return { ...existing };
    }
    // one request per MAC and address, each shown with its address (a spoofed MAC elsewhere on the
    // network neither replaces nor inherits the real PC's request); a few per MAC at most
    const ofMac = [...this.requests.values()].filter((r) => r.mac === c.mac && r.state === 'pending');
    if (ofMac.length >= MAX_REQUESTS_PER_MAC) this.requests.delete(ofMac[0]!.id);
    if (this.requests.size >= MAX_REQUESTS) this.requests.delete(this.requests.keys().next().value!);
    const at = this.iso();
    const r: MaintenanceRequest = {
      id: newId(),
      machineId: c.machineId,
      machineName: c.machineName,
      mac: c.mac,
      ip: c.ip,
      requestedAt: at,
      lastSeenAt: at,
      state: 'pending',
      decidedBy: null,
      decidedAt: null,
    };
    this.requests.set(r.id, r);
    this.d.log.info(
      { mac: c.mac, ip: c.ip, machine: c.machineName },
      'maintenance requested from the boot menu',
    );
    this.d.bus.publish('boot.maintenance_requested', r.id, { ...r });
    await this.d.reports.audit({
      action: 'boot.maintenance_requested',
      machineId: c.machineId,
      ip: c.ip,
      status: 202,
    });
    return { ...r };
  }

  private expire(): void {
    const now = this.now();
    for (const [mac, g] of this.grants) if (g.until <= now) this.grants.delete(mac);
    for (const [id, r] of this.requests) {
      const idle = r.state === 'pending' && now - Date.parse(r.lastSeenAt) > REQUEST_IDLE_MS;
      const stale = r.state !== 'pending' && now - Date.parse(r.decidedAt!) > DECIDED_KEEP_MS;
      if (idle || stale) this.requests.delete(id);
    }
  }
}

/** The iPXE script for a maintenance choice that is not (yet) allowed. */
export function gateScript(
  g: Exclude<GateDecision, { kind: 'granted' } | { kind: 'not_offered' }>,
  o: { baseUrl: string; machineName: string },
): string {
  switch (g.kind) {
    case 'ask_pin':
      return pinPromptScript({
        baseUrl: o.baseUrl,
        machineName: o.machineName,
        wrong: g.wrong,
        approval: g.approval,
      });
    case 'pending':
      return waitScript({
        baseUrl: o.baseUrl,
        title: `maintenance of ${o.machineName} waits for an operator`,
        lines: [
          ...(g.lockedOut ? ['Too many wrong PINs: PIN entry is locked for a while.'] : []),
          'An operator can approve or deny it in the GGnet console (Dashboard, maintenance requests).',
          'Power the PC off or reset it to boot normally instead.',
        ],
        retrySec: POLL_SEC,
        query: { mode: 'maintenance' },
      });
    case 'denied':
      return waitScript({
        baseUrl: o.baseUrl,
        title: `maintenance of ${o.machineName} was denied`,
        lines: [`${g.by ? `${g.by} denied it.` : 'An operator denied it.'} The PC boots normally.`],
        retrySec: 5,
        query: { mode: 'normal' },
      });
    case 'pin_locked':
      return waitScript({
        baseUrl: o.baseUrl,
        title: 'too many wrong maintenance PINs',
        lines: [
          `PIN entry is locked for about ${Math.ceil(g.retryAfterSec / 60)} min. Every attempt is in the audit log.`,
          'Back to the boot menu.',
        ],
        retrySec: 10,
      });
  }
}
