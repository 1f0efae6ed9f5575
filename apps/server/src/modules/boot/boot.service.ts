// Over 350 lines: the coordinator of one boot request (guard, registration, decision, session, records) in one readable flow.
import {
  normalizeMac,
  type BootEvent,
  type BootEventListQuery,
  type BootReadyRequest,
  type Page,
  type BootScriptQuery,
  type BootStats,
  type BootStatsQuery,
} from '@ggnet/contracts';
import type { Logger } from 'pino';
import { AppError, badRequest } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { KeyedMutex } from '../../lib/keyed-mutex.js';
import type { ImagesRepository } from '../images/images.repository.js';
import { AutoRegistration, type AutoRegistrationRefusal } from '../machines/auto-registration.js';
import type { MachineRowWithSession, MachinesRepository } from '../machines/machines.repository.js';
import type { EffectiveResolver } from '../groups/effective-resolver.js';
import type { MachinesService } from '../machines/machines.service.js';
import type { RegistrationPolicy } from '../machines/registration-policy.js';
import type { BootSessionInfo, BootSessionStarter } from '../sessions/boot-session.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { BootEventsRepository, NewBootEvent } from '../boot-events/boot-events.repository.js';
import type { SessionsRepository } from '../sessions/sessions.repository.js';
import type { BootGuard } from './boot-guard.js';
import { nonBootScript, preparingScript, sessionBootScript, startErrorScript } from './boot-messages.js';
import { readySession } from './boot-ready.js';
import { bootStatsOf } from './boot-stats.js';
import { chainScript, menuScript } from './ipxe-script.js';
import { gateScript, type MaintenanceGate } from './maintenance-gate.js';
import { decideScript, type MachineBootMode, type ScriptResult } from './script-decision.js';
import { SessionStarts } from './session-starts.js';

export type { ScriptResult } from './script-decision.js';

export interface BootScriptRequest extends BootScriptQuery {
  clientIp: string;
  /** How this client reached GGnet, e.g. http://10.0.0.1:8080 (used for the next request). */
  baseUrl: string;
}

/** Firmware DHCP/TFTP events at most this old are linked to the session a script starts. */
const LINK_WINDOW_MS = 10 * 60_000;
/** A waiting client asks every few seconds: its repeats are recorded once per this interval. */
const REPEAT_RECORD_MS = 10 * 60_000;

/** The script result of an unknown PC that was not registered. */
const REFUSED_REGISTRATION: Record<AutoRegistrationRefusal, ScriptResult> = {
  off: 'unknown',
  pending_full: 'registration_closed',
  capped: 'registration_capped',
};

export interface BootServiceDeps {
  machines: MachinesService;
  machinesRepo: MachinesRepository;
  images: ImagesRepository;
  /** A machine's effective settings (machine -> group -> default) and versions (ring -> published). */
  effective: Pick<EffectiveResolver, 'forMachine'>;
  /** The group an unknown PC joins by the groups' auto-registration rules. */
  groupByRules?: (mac: string, ip: string) => Promise<string | null>;
  settings: SettingsService;
  sessions: BootSessionStarter;
  events: BootEventsRepository;
  /** Records and publishes boot events (the one writer of boot_events). */
  recorder: BootEventRecorder;
  /** Live sessions by machine or address (POST /boot/ready), sessions for the statistics. */
  sessionsRepo: SessionsRepository;
  /** Makes DHCP/TFTP events dnsmasq has logged so far visible before they are linked. */
  drainDhcpLog?: () => Promise<void>;
  bus: EventBus;
  log: Logger;
  /** Port of the boot endpoint, when the client's own view of it is unknown. */
  httpPort: () => number;
  /** How long a request waits for its session (default 15 s) before answering "preparing". */
  sessionWaitMs?: number;
  /** Who may get a machine's script (no takeover of a running machine); see boot-guard.ts. */
  guard?: BootGuard;
  /** Caps on registrations of unknown MACs (machines.autoRegister). */
  registration?: RegistrationPolicy;
  /** Maintenance from the boot menu needs a PIN or an operator's approval. */
  maintenance?: MaintenanceGate;
}

/**
 * The boot endpoint's coordinator: who is this MAC (auto-registration in machines), which script
 * for its state (script-decision.ts), its session (session-starts.ts), the records of what it was
 * told, and the iPXE script (ipxe-script.ts, boot-messages.ts). Requests of one MAC are serialised
 * (keyed lock); different machines never wait for each other.
 */
export class BootService {
  private readonly locks = new KeyedMutex();
  private readonly lastRecorded = new Map<string, { result: ScriptResult; at: number }>();
  private readonly starts: SessionStarts;
  private readonly registration: AutoRegistration;

  constructor(private readonly d: BootServiceDeps) {
    this.starts = new SessionStarts({
      sessions: d.sessions,
      hasKind: (sessionId, kind) => d.events.hasKind(sessionId, kind),
      log: d.log,
      waitMs: d.sessionWaitMs,
    });
    this.registration = new AutoRegistration({
      machines: d.machines,
      machinesRepo: d.machinesRepo,
      log: d.log,
      registration: d.registration,
      groupByRules: d.groupByRules,
    });
  }

  /** How long a script request waits for its session before answering "preparing, ask again". */
  get sessionWaitMs(): number {
    return this.starts.waitMs;
  }
  set sessionWaitMs(ms: number) {
    this.starts.waitMs = ms;
  }

  async script(
    req: BootScriptRequest,
  ): Promise<{ script: string; result: ScriptResult; sessionId?: string }> {
    const baseUrl = req.baseUrl;
    // a DHCP server that does not expand iPXE settings hands out the URL with ${...} still in it
    if (!req.mac || req.mac.includes('${')) return { script: chainScript(baseUrl), result: 'identify' };
    const mac = normalizeMac(req.mac);
    if (!mac) {
      throw badRequest(
        'invalid_mac',
        `${JSON.stringify(req.mac.slice(0, 40))} is not a MAC address`,
        'iPXE sends it as mac=${netX/mac}; check the boot URL the DHCP server hands out',
      );
    }
    const arrival = this.starts.arrive();
    await this.d.drainDhcpLog?.().catch((err) => this.d.log.warn({ err }, 'reading the DHCP log failed'));
    return this.locks.run(mac, () => this.scriptFor(mac, req, arrival));
  }

  private async scriptFor(
    mac: string,
    req: BootScriptRequest,
    arrival: number,
  ): Promise<{ script: string; result: ScriptResult; sessionId?: string }> {
    const s = await this.d.settings.get();
    const seen = { arch: req.arch ?? null, platform: req.platform ?? null, ip: req.clientIp };
    let row = await this.d.machinesRepo.findByMac(mac);
    const guard = await this.d.guard?.check({
      mac,
      machine: row ?? null,
      clientIp: req.clientIp,
      baseUrl: req.baseUrl,
      settings: s,
      // a start not yet settled (one already handed out is judged by its session's state instead)
      inFlight: row ? this.starts.unsettled(row.id) : null,
    });
    if (guard?.refused) return { script: guard.refused.script, result: 'refused' };
    const screen = (result: ScriptResult, machineName: string | null, imageName?: string) =>
      nonBootScript(result, {
        baseUrl: req.baseUrl,
        mac,
        machineName,
        imageName,
        pendingRetrySec: s.boot.pendingRetrySec,
      });
    if (!row) {
      const reg = await this.registration.register(mac, s, req.clientIp);
      if (reg.refused) {
        const result = REFUSED_REGISTRATION[reg.refused];
        // a cap that bites is reported once per interval by the policy, not once per MAC of a flood
        if (reg.refused === 'off') await this.record(mac, null, null, result, seen);
        return { script: screen(result, null), result };
      }
      row = reg.row;
    }
    await this.touch(row, req.clientIp);
    const machine = row;
    const eff = (await this.d.effective.forMachine(row)).settings;
    const machineMode: MachineBootMode = eff.bootMode.value;
    const bootImageId = eff.bootImageId.value;
    const decision = await decideScript(
      {
        machine: { pending: !!row.pending, enabled: !!row.enabled, bootMode: machineMode },
        menu: eff.bootMenu.value,
        requestedMode: req.mode,
      },
      {
        // the version this machine boots: its group's ring release, else the published one
        image: async () => {
          const img = bootImageId ? await this.d.images.findRow(bootImageId) : undefined;
          return img && { ...img, published_version_id: eff.bootVersion.versionId };
        },
        gate: async () =>
          (await this.d.maintenance?.check({
            mac,
            machineId: machine.id,
            machineName: machine.name,
            ip: req.clientIp,
            pin: req.pin,
          })) ?? { kind: 'not_offered' as const },
      },
    );
    switch (decision.result) {
      case 'pending':
      case 'disabled':
      case 'local':
        await this.record(mac, row.id, null, decision.result, seen);
        return { script: screen(decision.result, row.name), result: decision.result };
      case 'menu':
        await this.record(mac, row.id, null, 'menu', seen);
        return {
          script: menuScript({
            baseUrl: req.baseUrl,
            machineName: row.name,
            imageName: decision.image?.name ?? null,
            defaultMode: machineMode,
            timeoutSec: s.boot.menuTimeoutSec,
            maintenance: (await this.d.maintenance?.offered()) ? 'gated' : 'off',
          }),
          result: 'menu',
        };
      case 'maintenance':
        await this.record(mac, row.id, null, 'maintenance', { ...seen, gate: decision.gate.kind });
        return {
          script: gateScript(decision.gate, { baseUrl: req.baseUrl, machineName: row.name }),
          result: 'maintenance',
        };
      case 'no_image':
        await this.record(mac, row.id, null, 'no_image', { ...seen, imageId: decision.image?.id ?? null });
        return { script: screen('no_image', row.name, decision.image?.name), result: 'no_image' };
    }
    const { mode, image } = decision;

    let info: BootSessionInfo;
    try {
      const resume = guard?.resume?.mode === mode ? guard.resume.sessionId : null;
      const started = await this.starts.sessionFor(row.id, mode, req.clientIp, arrival, resume);
      if (!started) {
        // still being prepared (a boot storm queues on tgtd): let iPXE ask again instead of hanging
        await this.record(mac, row.id, null, 'preparing', { ...seen, mode });
        return {
          script: preparingScript({
            baseUrl: req.baseUrl,
            machineName: row.name,
            inFlight: this.starts.inFlight(),
            // the mode chosen in the boot menu goes along, or the retry would show the menu again
            query: eff.bootMenu.value && req.mode ? { mode } : {},
          }),
          result: 'preparing',
        };
      }
      info = started;
    } catch (err) {
      const app = err instanceof AppError ? err : null;
      if (!app) this.d.log.error({ err, mac, machineId: row.id }, 'starting a boot session failed');
      await this.recordEvent({
        at: nowIso(),
        mac,
        machineId: row.id,
        sessionId: null,
        kind: 'error',
        detail: {
          stage: 'session',
          code: app?.code ?? 'internal',
          message: app?.message ?? 'internal error',
          ...seen,
        },
      });
      return {
        script: startErrorScript({ baseUrl: req.baseUrl, machineName: row.name, error: app }),
        result: 'error',
      };
    }

    const since = new Date(Date.now() - LINK_WINDOW_MS).toISOString();
    const lastRun = await this.d.events.lastRunEnd(mac);
    await this.d.events.linkToSession(
      mac,
      row.id,
      info.sessionId,
      lastRun && lastRun > since ? lastRun : since,
    );
    const version = await this.d.images.findVersionById(
      info.luns.find((l) => l.kind === 'boot')?.versionId ?? '',
    );
    await this.recordEvent({
      at: nowIso(),
      mac,
      machineId: row.id,
      sessionId: info.sessionId,
      kind: 'script',
      detail: {
        result: 'boot',
        mode,
        ...seen,
        imageId: image.id,
        versionId: version?.id ?? null,
        targetIqn: info.targetIqn,
      },
    });
    this.lastRecorded.delete(mac);
    const script = sessionBootScript(info, {
      baseUrl: req.baseUrl,
      machineName: row.name,
      mac,
      imageLabel: `${image.name}${version ? ` v${version.number}` : ''}`,
      mode,
      retries: s.boot.retries,
      // install mode: the machine's own maintenance mode with an install medium
      installMediaId: mode === 'maintenance' ? machine.install_media_id : null,
      uefiBootFile: image.uefi_boot_file ?? null,
    });
    return { script, result: 'boot', sessionId: info.sessionId };
  }

  /** last seen / last IP: written when the IP changes or once a minute, not on every retry. */
  private async touch(row: MachineRowWithSession, ip: string): Promise<void> {
    const now = nowIso();
    const stale = !row.last_seen_at || Date.parse(now) - Date.parse(row.last_seen_at) > 60_000;
    if (row.last_ip === ip && !stale) return;
    await this.d.machinesRepo.update(row.id, { last_seen_at: now, last_ip: ip });
    const [m] = await this.d.machines.toApi([{ ...row, last_seen_at: now, last_ip: ip }]);
    this.d.bus.publish('machine.updated', row.id, m);
  }

  private async record(
    mac: string,
    machineId: string | null,
    sessionId: string | null,
    result: ScriptResult,
    detail: Record<string, unknown>,
  ): Promise<void> {
    const last = this.lastRecorded.get(mac);
    const now = Date.now();
    if (last && last.result === result && now - last.at < REPEAT_RECORD_MS) return;
    this.lastRecorded.set(mac, { result, at: now });
    if (this.lastRecorded.size > 10_000) {
      for (const [k, v] of this.lastRecorded) if (now - v.at > REPEAT_RECORD_MS) this.lastRecorded.delete(k);
    }
    await this.recordEvent({
      at: nowIso(),
      mac,
      machineId,
      sessionId,
      kind: 'script',
      detail: { result, ...detail },
    });
  }

  private async recordEvent(e: NewBootEvent): Promise<void> {
    await this.d.recorder.record(e);
  }

  /**
   * `POST /boot/ready`: the client OS reports that it is up. Accepted only from the address of a
   * live session (the one iPXE booted from, or the address DHCP gave that MAC since).
   */
  async ready(body: BootReadyRequest, clientIp: string): Promise<{ sessionId: string; recorded: boolean }> {
    const { sessionId, machineId, mac } = await readySession(this.d, body, clientIp);
    return this.locks.run(`ready:${sessionId}`, async () => {
      if (await this.d.events.hasKind(sessionId, 'os_up')) return { sessionId, recorded: false };
      await this.recordEvent({
        at: nowIso(),
        mac,
        machineId,
        sessionId,
        kind: 'os_up',
        detail: { source: 'client', ip: clientIp },
      });
      return { sessionId, recorded: true };
    });
  }

  async events(q: BootEventListQuery): Promise<Page<BootEvent>> {
    let mac: string | undefined;
    if (q.mac) {
      const m = normalizeMac(q.mac);
      if (!m) throw badRequest('invalid_mac', 'mac is not a MAC address', 'e.g. 52:54:00:12:34:56');
      mac = m;
    }
    return this.d.events.list({ ...q, mac });
  }

  stats(q: BootStatsQuery): Promise<BootStats> {
    return bootStatsOf(this.d.sessionsRepo, this.d.events, q);
  }

  /** GGnet's boot URL base when the request does not tell how the client reached it. */
  async fallbackBaseUrl(): Promise<string | null> {
    const s = await this.d.settings.get();
    if (!s.network.bootAddr) return null;
    return `http://${s.network.bootAddr}:${s.network.bootHttpPort ?? this.d.httpPort()}`;
  }
}
