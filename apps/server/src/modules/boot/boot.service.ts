import {
  normalizeMac,
  type BootEvent,
  type BootEventListQuery,
  type BootReadyRequest,
  type Page,
  type BootScriptQuery,
  type BootStats,
  type BootStatsQuery,
  type Settings,
} from '@ggnet/contracts';
import type { Logger } from 'pino';
import { AppError, badRequest } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { KeyedMutex } from '../../lib/keyed-mutex.js';
import type { ImagesRepository } from '../images/images.repository.js';
import {
  toMachine,
  type MachineRowWithSession,
  type MachinesRepository,
} from '../machines/machines.repository.js';
import type { MachinesService } from '../machines/machines.service.js';
import type { RegistrationPolicy } from '../machines/registration-policy.js';
import type { BootSessionInfo, BootSessionStarter } from '../sessions/boot-session.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { BootEventsRepository, NewBootEvent } from '../boot-events/boot-events.repository.js';
import type { SessionsRepository } from '../sessions/sessions.repository.js';
import type { BootGuard } from './boot-guard.js';
import { computeBootStats } from './boot-stats.js';
import { chainScript, exitScript, menuScript, sanbootScript, waitScript } from './ipxe-script.js';
import { gateScript, type MaintenanceGate } from './maintenance-gate.js';

interface StartEntry {
  p: Promise<BootSessionInfo>;
  mode: 'normal' | 'maintenance';
  clientIp: string;
  at: number;
  settled: boolean;
  /** Arrival number of the last request before the session (or its error) was first handed out. */
  deliveredAt: number | null;
}

export interface BootScriptRequest extends BootScriptQuery {
  clientIp: string;
  /** How this client reached GGnet, e.g. http://10.0.0.1:8080 (used for the next request). */
  baseUrl: string;
}

/** What the script told the client to do (recorded in the `script` boot event). */
export type ScriptResult =
  | 'identify'
  | 'boot'
  | 'menu'
  | 'pending'
  | 'unknown'
  | 'registration_closed'
  | 'registration_capped'
  | 'maintenance'
  | 'rate_limited'
  | 'preparing'
  | 'disabled'
  | 'local'
  | 'no_image'
  | 'refused'
  | 'error';

/** Firmware DHCP/TFTP events at most this old are linked to the session a script starts. */
const LINK_WINDOW_MS = 10 * 60_000;
/** How long a script request waits for its session before answering "preparing, ask again". */
const SESSION_WAIT_MS = 15_000;
const PREPARING_RETRY_SEC = 2;
/** A started session nobody came back for is forgotten after this (the idle timeout ends it). */
const START_KEEP_MS = 5 * 60_000;
/** A delivered start is kept this long for requests that arrived while it was in flight. */
const DELIVERED_KEEP_MS = 60_000;
/** A waiting client asks every few seconds: its repeats are recorded once per this interval. */
const REPEAT_RECORD_MS = 10 * 60_000;

export interface BootServiceDeps {
  machines: MachinesService;
  machinesRepo: MachinesRepository;
  images: ImagesRepository;
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
 * The boot endpoint's logic: who is this MAC, what should it boot, and the iPXE script for it.
 * Requests of one MAC are serialised (keyed lock); different machines never wait for each other.
 */
export class BootService {
  private readonly locks = new KeyedMutex();
  private readonly lastRecorded = new Map<string, { result: ScriptResult; at: number }>();
  /**
   * Session starts per machine: in flight, finished but not yet fetched, or delivered (kept for the
   * requests that arrived before the delivery: duplicates of the same boot get the same session).
   */
  private readonly starts = new Map<string, StartEntry>();
  /** Arrival number of each script request, to tell duplicates from a later boot. */
  private arrivals = 0;

  /** How long a script request waits for its session before answering "preparing, ask again". */
  sessionWaitMs: number;

  constructor(private readonly d: BootServiceDeps) {
    this.sessionWaitMs = d.sessionWaitMs ?? SESSION_WAIT_MS;
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
    const arrival = ++this.arrivals;
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
    const inFlight = row ? this.starts.get(row.id) : undefined;
    const guard = await this.d.guard?.check({
      mac,
      machine: row ?? null,
      clientIp: req.clientIp,
      baseUrl: req.baseUrl,
      settings: s,
      // a start not yet settled (one already handed out is judged by its session's state instead)
      inFlight: inFlight && !inFlight.settled && Date.now() - inFlight.at <= START_KEEP_MS ? inFlight : null,
    });
    if (guard?.refused) return { script: guard.refused.script, result: 'refused' };
    if (!row) {
      const reg = await this.register(mac, s, req.clientIp);
      if (reg.result) {
        // a cap that bites is reported once per interval by the policy, not once per MAC of a flood
        if (!reg.capped) await this.record(mac, null, null, reg.result, seen);
        return { script: this.nonBootScript(reg.result, req, s, mac, null), result: reg.result };
      }
      row = reg.row!;
    }
    await this.touch(row, req.clientIp);
    if (row.pending) {
      await this.record(mac, row.id, null, 'pending', seen);
      return { script: this.nonBootScript('pending', req, s, mac, row), result: 'pending' };
    }
    if (!row.enabled) {
      await this.record(mac, row.id, null, 'disabled', seen);
      return { script: this.nonBootScript('disabled', req, s, mac, row), result: 'disabled' };
    }
    const image = row.boot_image_id ? await this.d.images.findRow(row.boot_image_id) : undefined;
    const machineMode = row.boot_mode as 'normal' | 'maintenance' | 'local';
    if (s.boot.menu && !req.mode) {
      await this.record(mac, row.id, null, 'menu', seen);
      return {
        script: menuScript({
          baseUrl: req.baseUrl,
          machineName: row.name,
          imageName: image?.name ?? null,
          defaultMode: machineMode,
          timeoutSec: s.boot.menuTimeoutSec,
          maintenance: (await this.d.maintenance?.offered()) ? 'gated' : 'off',
        }),
        result: 'menu',
      };
    }
    // the menu is the only way a client picks its mode; without it, the machine's setting decides
    let mode = s.boot.menu && req.mode ? req.mode : machineMode;
    if (mode === 'maintenance' && machineMode !== 'maintenance') {
      // maintenance from the menu: the PIN or an operator's approval, never a keypress alone
      const gate = (await this.d.maintenance?.check({
        mac,
        machineId: row.id,
        machineName: row.name,
        ip: req.clientIp,
        pin: req.pin,
      })) ?? { kind: 'not_offered' as const };
      if (gate.kind === 'not_offered') mode = machineMode;
      else if (gate.kind !== 'granted') {
        await this.record(mac, row.id, null, 'maintenance', { ...seen, gate: gate.kind });
        return {
          script: gateScript(gate, { baseUrl: req.baseUrl, machineName: row.name }),
          result: 'maintenance',
        };
      }
    }
    if (mode === 'local') {
      await this.record(mac, row.id, null, 'local', seen);
      return { script: this.nonBootScript('local', req, s, mac, row), result: 'local' };
    }
    if (!image || !image.published_version_id) {
      await this.record(mac, row.id, null, 'no_image', { ...seen, imageId: image?.id ?? null });
      return { script: this.nonBootScript('no_image', req, s, mac, row, image?.name), result: 'no_image' };
    }

    let info: BootSessionInfo;
    try {
      const resume = guard?.resume?.mode === mode ? guard.resume.sessionId : null;
      const started = await this.sessionFor(row.id, mode, req.clientIp, arrival, resume);
      if (!started) {
        // still being prepared (a boot storm queues on tgtd): let iPXE ask again instead of hanging
        await this.record(mac, row.id, null, 'preparing', { ...seen, mode });
        return {
          script: waitScript({
            baseUrl: req.baseUrl,
            title: `preparing the disk of ${row.name}`,
            lines: [`${this.inFlight()} machine(s) are being prepared right now.`],
            retrySec: PREPARING_RETRY_SEC,
            // the mode chosen in the boot menu goes along, or the retry would show the menu again
            query: s.boot.menu && req.mode ? { mode } : {},
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
        script: waitScript({
          baseUrl: req.baseUrl,
          title: `${row.name} cannot boot right now`,
          lines: app
            ? [app.message, ...(app.hint ? [`Hint: ${app.hint}`] : [])]
            : ['GGnet could not prepare the disk of this machine (internal error, see the server log).'],
          retrySec: 30,
        }),
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
    const script = sanbootScript({
      baseUrl: req.baseUrl,
      machineName: row.name,
      mac,
      sessionId: info.sessionId,
      imageLabel: `${image.name}${version ? ` v${version.number}` : ''}`,
      mode,
      initiatorIqn: info.initiatorIqn,
      portalHost: info.portalHost,
      portalPort: info.portalPort,
      targetIqn: info.targetIqn,
      luns: info.luns,
      chap: info.chap,
      reverseChap: info.reverseChap,
      retries: s.boot.retries,
    });
    return { script, result: 'boot', sessionId: info.sessionId };
  }

  /**
   * The session of this boot: started now, or the one a previous request of the same client left
   * starting. Null when it is not ready within sessionWaitMs; it keeps starting in the background
   * and the client's next request (a few seconds later) picks it up. At most one start per machine
   * is in flight: requests that arrive meanwhile (an impatient iPXE, a flood for one MAC) wait for
   * it and get its session; one with another mode or address gets "preparing" and never starts a
   * second. A request that arrives after a session was handed out is a new boot.
   */
  private async sessionFor(
    machineId: string,
    mode: 'normal' | 'maintenance',
    clientIp: string,
    arrival: number,
    resumeId: string | null = null,
  ): Promise<BootSessionInfo | null> {
    let entry = this.starts.get(machineId);
    if (entry) {
      const same = entry.mode === mode && entry.clientIp === clientIp;
      const old = Date.now() - entry.at > START_KEEP_MS;
      if (entry.deliveredAt !== null) {
        // handed out already: a duplicate of that boot joins it; anything later is a new boot
        if (arrival > entry.deliveredAt || old) entry = undefined;
        else if (!same) return null;
      } else if (!entry.settled) {
        if (old) {
          this.d.log.warn({ machineId }, 'a session start has been running for minutes; starting anew');
          entry = undefined;
        } else if (!same) return null;
      } else if (!same || old) entry = undefined; // finished, nobody took it, and this is another boot
      if (!entry) this.starts.delete(machineId);
    }
    if (!entry && resumeId) {
      // the same client asking again before it logged in: the same session, not a new one (an OS
      // that reported itself up has booted from it: this is a new boot)
      const again = !(await this.d.events.hasKind(resumeId, 'os_up'));
      const resumed = again ? await this.d.sessions.resumeSession?.(resumeId) : null;
      if (resumed) return resumed;
    }
    if (!entry) {
      const p = this.d.sessions.startSession({ machineId, mode, clientIp });
      const e: StartEntry = { p, mode, clientIp, at: Date.now(), settled: false, deliveredAt: null };
      const settle = () => {
        e.settled = true;
      };
      p.then(settle, settle); // also: a start nobody waits for any more is not an unhandled rejection
      this.starts.set(machineId, e);
      entry = e;
    }
    const e = entry;
    const wait = this.sessionWaitMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), wait)));
    const delivered = () => {
      if (e.deliveredAt !== null) return;
      e.deliveredAt = this.arrivals;
      setTimeout(() => {
        if (this.starts.get(machineId) === e) this.starts.delete(machineId);
      }, DELIVERED_KEEP_MS).unref();
    };
    try {
      const r = await Promise.race([e.p, timeout]);
      if (r) delivered();
      return r;
    } catch (err) {
      delivered(); // requests that arrived meanwhile get the same error, not a second attempt
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Session starts still running. */
  private inFlight(): number {
    let n = 0;
    for (const e of this.starts.values()) if (!e.settled) n++;
    return n;
  }

  private nonBootScript(
    result: ScriptResult,
    req: BootScriptRequest,
    s: Settings,
    mac: string,
    row: MachineRowWithSession | null,
    imageName?: string,
  ): string {
    const name = row?.name ?? mac;
    switch (result) {
      case 'pending':
        return waitScript({
          baseUrl: req.baseUrl,
          title: 'waiting for approval',
          lines: [
            `This PC (${mac}) is registered as ${name} and waits for an administrator.`,
            'Approve it in the GGnet console (Machines) and it boots by itself.',
          ],
          retrySec: s.boot.pendingRetrySec,
        });
      case 'unknown':
        return exitScript(
          'this PC is not registered',
          [
            `MAC ${mac} is unknown to GGnet and automatic registration is off.`,
            'Add it in the GGnet console to boot it from the network; booting the local disk now.',
          ],
          3,
        );
      case 'registration_closed':
        return exitScript(
          'this PC is not registered',
          [`Too many PCs wait for approval; ${mac} was not registered. Booting the local disk.`],
          3,
        );
      case 'registration_capped':
        return exitScript(
          'this PC is not registered',
          [
            `GGnet registers no more new PCs right now (limit reached); ${mac} was not registered.`,
            'An administrator can add it in the GGnet console. Booting the local disk.',
          ],
          3,
        );
      case 'disabled':
        return exitScript(
          `${name} is disabled`,
          ['Enable it in the GGnet console to boot it from the network.'],
          3,
        );
      case 'local':
        return exitScript(`${name} boots from its local disk`, []);
      case 'no_image':
        return exitScript(
          `${name} has no image to boot`,
          [
            imageName
              ? `Image ${imageName} has no published version yet.`
              : 'Assign an image to this machine in the GGnet console.',
            'Booting the local disk.',
          ],
          3,
        );
      default:
        return exitScript('nothing to boot', []);
    }
  }

  /** Registers an unknown MAC per machines.autoRegister; `result` set = no boot for it now. */
  private async register(
    mac: string,
    s: Settings,
    ip: string,
  ): Promise<{ row?: MachineRowWithSession; result?: ScriptResult; capped?: boolean }> {
    const policy = s.machines.autoRegister;
    if (policy === 'off') return { result: 'unknown' };
    if (!this.d.registration) return this.registerNow(mac, s, policy);
    const r = await this.d.registration.register(policy, s.machines, { mac, ip }, () =>
      this.registerNow(mac, s, policy),
    );
    if (r.ok) return r.value;
    return {
      result: r.reason === 'pending_full' ? 'registration_closed' : 'registration_capped',
      capped: true,
    };
  }

  private async registerNow(
    mac: string,
    s: Settings,
    policy: 'pending' | 'auto',
  ): Promise<{ row: MachineRowWithSession }> {
    const image = policy === 'auto' ? s.machines.defaultImageId : null;
    for (let attempt = 0; attempt < 8; attempt++) {
      const name = await this.nextName(s.machines.namePattern, mac, attempt);
      try {
        const create = { name, mac, ...(image ? { bootImageId: image } : {}) };
        const m = await this.d.machines
          .create(create, policy === 'pending' ? { pending: 1 } : {})
          .catch(async (err: unknown) => {
            // the default image was deleted meanwhile: register without it
            if (err instanceof AppError && err.code === 'image_not_found')
              return this.d.machines.create({ name, mac }, policy === 'pending' ? { pending: 1 } : {});
            throw err;
          });
        this.d.log.info({ mac, name: m.name, pending: m.pending }, 'machine registered by its first boot');
        const row = await this.d.machinesRepo.findByMac(mac);
        if (row) return { row };
      } catch (err) {
        if (err instanceof AppError && err.code === 'mac_taken') {
          const row = await this.d.machinesRepo.findByMac(mac);
          if (row) return { row };
        }
        if (!(err instanceof AppError && err.code === 'name_taken')) throw err;
      }
    }
    throw new AppError(409, 'name_taken', `no free machine name for pattern ${s.machines.namePattern}`, {
      hint: 'change machines.namePattern',
    });
  }

  private async nextName(pattern: string, mac: string, attempt: number): Promise<string> {
    const hex = mac.replace(/:/g, '');
    if (pattern.includes('{mac}')) {
      const base = pattern.replace('{mac}', hex).replace('{n}', '1');
      return attempt === 0 ? base : `${base}-${attempt + 1}`.slice(0, 63);
    }
    const [prefix, suffix] = pattern.split('{n}') as [string, string];
    const re = new RegExp(`^${prefix.replace(/[-]/g, '\\-')}(\\d+)${suffix.replace(/[-]/g, '\\-')}$`);
    const used = (await this.d.machinesRepo.allNames(prefix))
      .map((n) => re.exec(n)?.[1])
      .filter((x): x is string => !!x)
      .map(Number);
    const next = (used.length ? Math.max(...used) : 0) + 1 + attempt;
    return `${prefix}${next}${suffix}`;
  }

  /** last seen / last IP: written when the IP changes or once a minute, not on every retry. */
  private async touch(row: MachineRowWithSession, ip: string): Promise<void> {
    const now = nowIso();
    const stale = !row.last_seen_at || Date.parse(now) - Date.parse(row.last_seen_at) > 60_000;
    if (row.last_ip === ip && !stale) return;
    await this.d.machinesRepo.update(row.id, { last_seen_at: now, last_ip: ip });
    this.d.bus.publish('machine.updated', row.id, toMachine({ ...row, last_seen_at: now, last_ip: ip }));
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
    let sessionId: string | null = null;
    let machineId: string | null = null;
    let mac: string | null = null;
    const noSession = () =>
      new AppError(404, 'no_session', 'no live boot session belongs to this client', {
        hint: 'call it from the booted machine itself, after it booted from GGnet',
      });
    if (body?.mac) {
      mac = normalizeMac(body.mac);
      if (!mac) throw badRequest('invalid_mac', 'mac is not a MAC address', 'e.g. 52:54:00:12:34:56');
      const row = await this.d.machinesRepo.findByMac(mac);
      const live = row ? await this.d.sessionsRepo.liveForMachine(row.id) : undefined;
      if (!row || !live) throw noSession();
      const acked = await this.d.events.lastAckedIp(mac, live.started_at);
      if (clientIp !== live.client_ip && clientIp !== row.last_ip && clientIp !== acked) throw noSession();
      sessionId = live.id;
      machineId = row.id;
    } else {
      const live = await this.d.sessionsRepo.liveByIp(clientIp);
      if (!live) throw noSession();
      sessionId = live.id;
      machineId = live.machine_id;
      mac = live.mac;
    }
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

  async stats(q: BootStatsQuery): Promise<BootStats> {
    const since = q.since
      ? new Date(q.since).toISOString()
      : new Date(Date.now() - 7 * 86400_000).toISOString();
    const sessions = await this.d.sessionsRepo.startedSince(since, q.imageId, 5000);
    const events = await this.d.events.eventsOfSessions(sessions.map((s) => s.id));
    const bySession = new Map<string, { at: string; kind: string }[]>();
    for (const e of events) {
      const list = bySession.get(e.session_id!) ?? [];
      list.push({ at: e.at, kind: e.kind });
      bySession.set(e.session_id!, list);
    }
    return computeBootStats(
      since,
      sessions.map((s) => ({
        id: s.id,
        machineId: s.machine_id,
        machineName: s.machine_name,
        imageId: s.image_id,
        imageName: s.image_name,
        events: bySession.get(s.id) ?? [],
      })),
      q.top,
    );
  }

  /** GGnet's boot URL base when the request does not tell how the client reached it. */
  async fallbackBaseUrl(): Promise<string | null> {
    const s = await this.d.settings.get();
    if (!s.network.bootAddr) return null;
    return `http://${s.network.bootAddr}:${s.network.bootHttpPort ?? this.d.httpPort()}`;
  }
}
