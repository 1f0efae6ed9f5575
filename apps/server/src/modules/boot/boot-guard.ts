import type { BootEvent, Connection, Settings } from '@ggnet/contracts';
import type { Logger } from 'pino';
import type { LiveConnection } from '../../adapters/iscsi/iscsi-target.adapter.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { parseJson } from '../../lib/json.js';
import type { SessionRow } from '../sessions/sessions.repository.js';
import type { NewBootEvent } from '../boot-events/boot-events.repository.js';
import { waitScript } from './ipxe-script.js';

/**
 * Who may get a machine's boot script (issue 10, "no takeover of a running machine"). A MAC is not an
 * identity: anyone on the boot LAN can ask for any MAC's script, and a script hands out the session's
 * disk. The rules, decided from what GGnet knows about the address that asks:
 *
 * 1. A machine with a fixed `ip` boots only from that address (its target admits only that address
 *    too, see TargetSpec.allowedAddress).
 * 2. In `dhcp` mode GGnet's own dnsmasq gave out the addresses: a request for a MAC from an address
 *    that was not leased to that MAC is refused. (proxy/off mode: GGnet has no lease knowledge.)
 * 3. While the machine's live session has an initiator logged in, only that initiator's address gets a
 *    script. From the same address it is the PC that rebooted (as before) unless its old connection
 *    is still alive: then the request comes from a second PC that copied both MAC and address, and
 *    it is refused too. Alive = the connection answers the target's pings (its received-bytes counter
 *    grows within one ping interval); a PC that was reset leaves it still.
 * 4. Between script and login (a session `starting`/`ready` that nobody has logged in to yet), and for
 *    PROTECT_MS after the last sign of life of a session whose initiator is gone (iPXE's connection
 *    dropped, a PC switching from iPXE to its OS), the address that asked first is protected the same
 *    way: another address is refused; after PROTECT_MS without a connection the disk is free again.
 * 5. A repeat request from the same address for a session that is still `ready` and never logged in
 *    gets that same session back: no restart, no new writeback.
 *
 * Refusals never touch the session. They answer a readable iPXE screen that asks again later, and are
 * recorded as a `refused` boot event, in the audit log (`boot.refused`) and on the event bus.
 */

/** How long a session nobody is logged in to stays protected against other addresses. */
export const PROTECT_MS = 90_000;
/** A live client answers tgtd's NOP-In every TGT_NOP_INTERVAL_SEC (5 s): watch a little longer. */
export const PROBE_MS = 6_500;
const PROBE_STEP_MS = 500;
/** One refusal per MAC, address and reason is recorded per this interval (iPXE keeps asking). */
const RECORD_MS = 60_000;
const REFUSED_RETRY_SEC = 30;

export type RefusalReason = 'fixed_ip' | 'not_leased' | 'in_use' | 'booting';

export interface GuardSession {
  id: string;
  state: string;
  mode: string;
  clientIp: string | null;
  startedAt: string;
  readyAt: string | null;
  activeAt: string | null;
  lastActivityAt: string | null;
  /** Addresses of the connections the session monitor saw last. */
  knownAddresses: string[];
}

export interface GuardFacts {
  clientIp: string;
  fixedIp: string | null;
  /** Addresses GGnet's DHCP leased to this MAC; null when GGnet hands out no addresses (not dhcp mode). */
  leased: string[] | null;
  /** A session start of this machine in flight in this process, and who asked for it. */
  inFlight: { clientIp: string | null } | null;
  session: GuardSession | null;
  /** The session's connections as the target reports them now (null: unknown). */
  connections: Array<Pick<LiveConnection, 'address'>> | null;
  nowMs: number;
}

export type Verdict =
  | { kind: 'refuse'; reason: RefusalReason; owner: string | null; sessionId: string | null }
  /** Same address as the logged-in initiator: is that connection still alive? Ask again with the answer. */
  | { kind: 'probe'; sessionId: string }
  | { kind: 'resume'; sessionId: string; mode: string }
  | { kind: 'start' };

const ms = (t: string | null) => (t ? Date.parse(t) : 0);

/** The decision itself (pure): what to do with one script request. `alive` answers a `probe`. */
export function decideBoot(f: GuardFacts, alive?: boolean): Verdict {
  const ip = f.clientIp;
  const sid = f.session?.id ?? null;
  if (f.fixedIp && ip !== f.fixedIp)
    return { kind: 'refuse', reason: 'fixed_ip', owner: f.fixedIp, sessionId: sid };
  if (f.leased && !f.leased.includes(ip))
    return { kind: 'refuse', reason: 'not_leased', owner: f.leased[0] ?? null, sessionId: sid };
  if (f.inFlight && f.inFlight.clientIp !== ip)
    return { kind: 'refuse', reason: 'booting', owner: f.inFlight.clientIp, sessionId: sid };
  const s = f.session;
  if (!s || s.state === 'ended') return { kind: 'start' };

  const conns = f.connections ?? s.knownAddresses.map((address) => ({ address }));
  if (conns.length) {
    if (!conns.some((c) => c.address === ip))
      return { kind: 'refuse', reason: 'in_use', owner: conns[0]!.address, sessionId: s.id };
    // live connections known from the target: the one at this address may still be in use
    if (f.connections?.length) {
      if (alive === undefined) return { kind: 'probe', sessionId: s.id };
      if (alive) return { kind: 'refuse', reason: 'in_use', owner: ip, sessionId: s.id };
    }
    return { kind: 'start' };
  }

  const owners = new Set([s.clientIp, ...s.knownAddresses].filter((a): a is string => !!a));
  // (no owner: a session an operator started through the API; a boot replaces it, as before)
  if (owners.size === 0) return { kind: 'start' };
  if (owners.has(ip)) {
    if (s.state === 'ready' && !s.activeAt) return { kind: 'resume', sessionId: s.id, mode: s.mode };
    return { kind: 'start' };
  }
  const lastSign = Math.max(ms(s.startedAt), ms(s.readyAt), ms(s.activeAt), ms(s.lastActivityAt));
  if (f.nowMs - lastSign < PROTECT_MS)
    return {
      kind: 'refuse',
      reason: s.activeAt ? 'in_use' : 'booting',
      owner: s.clientIp ?? [...owners][0] ?? null,
      sessionId: s.id,
    };
  return { kind: 'start' };
}

/** The iPXE screen of a refusal: what happened, in words a customer at the PC can pass on; asks again later. */
export function refusalScript(o: {
  reason: RefusalReason;
  machineName: string | null;
  mac: string;
  clientIp: string;
  baseUrl: string;
}): string {
  const name = o.machineName ?? o.mac;
  const [title, lines] = ((): [string, string[]] => {
    switch (o.reason) {
      case 'fixed_ip':
        return [
          `boot refused: ${name} boots only from its own address`,
          [`${name} (${o.mac}) has a fixed IP address and this request came from ${o.clientIp}.`],
        ];
      case 'not_leased':
        return [
          `boot refused: ${o.clientIp} was not given to ${o.mac}`,
          [`GGnet's DHCP server did not lease ${o.clientIp} to ${o.mac}: this PC is not ${name}.`],
        ];
      case 'booting':
        return [
          `boot refused: ${name} is booting on another PC`,
          [`Another PC with MAC ${o.mac} has just started booting ${name}.`],
        ];
      case 'in_use':
        return [
          `boot refused: ${name} is running on another PC`,
          [`Another PC with MAC ${o.mac} is using the disk of ${name} right now.`],
        ];
    }
  })();
  return waitScript({
    baseUrl: o.baseUrl,
    title,
    lines: [
      ...lines,
      'GGnet never hands the disk of a running PC to another one. The administrator has been told.',
    ],
    retrySec: REFUSED_RETRY_SEC,
  });
}

export interface BootGuardDeps {
  liveSession(machineId: string): Promise<SessionRow | undefined>;
  /** The IQN of a session's target (to read its live connections). */
  targetIqn(targetId: string): Promise<string | null>;
  /** Connections of a target as the target reports them now; throws when it cannot tell. */
  liveConnections(iqn: string): Promise<LiveConnection[]>;
  /** rxdata_octets of one connection (null: gone); undefined when the driver cannot tell. */
  connectionRx?: (iqn: string, c: LiveConnection) => Promise<number | null>;
  /** Addresses GGnet's dnsmasq has leased to a MAC (dhcp mode). */
  leasesOf(mac: string): Promise<string[]>;
  /** Stores and publishes (`boot.event`) a boot event: BootEventRecorder.record. */
  recordEvent(e: NewBootEvent): Promise<BootEvent | undefined>;
  audit(entry: { machineId: string | null; mac: string; ip: string; reason: RefusalReason }): Promise<void>;
  bus: EventBus;
  log: Logger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  probeMs?: number;
}

export interface GuardRequest {
  mac: string;
  machine: { id: string; name: string; ip: string | null } | null;
  clientIp: string;
  baseUrl: string;
  settings: Settings;
  inFlight: { clientIp: string | null } | null;
}

export type GuardOutcome =
  | { refused: { script: string; reason: RefusalReason } }
  | { refused?: undefined; resume?: { sessionId: string; mode: string } };

/** Gathers the facts for decideBoot (session, live connections, leases), probes liveness, records refusals. */
export class BootGuard {
  private readonly recorded = new Map<string, number>();

  constructor(private readonly d: BootGuardDeps) {}

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  async check(r: GuardRequest): Promise<GuardOutcome> {
    const facts: GuardFacts = {
      clientIp: r.clientIp,
      fixedIp: r.machine?.ip ?? null,
      leased: r.settings.dhcp.mode === 'dhcp' ? await this.d.leasesOf(r.mac) : null,
      inFlight: r.inFlight,
      session: null,
      connections: null,
      nowMs: this.now(),
    };
    let iqn: string | null = null;
    let live: LiveConnection[] = [];
    const row = r.machine ? await this.d.liveSession(r.machine.id) : undefined;
    if (row) {
      facts.session = {
        id: row.id,
        state: row.state,
        mode: row.mode,
        clientIp: row.client_ip,
        startedAt: row.started_at,
        readyAt: row.ready_at,
        activeAt: row.active_at,
        lastActivityAt: row.last_activity_at,
        knownAddresses: parseJson<Connection[]>(row.connections, []).map((c) => c.address),
      };
      iqn = row.target_id ? await this.d.targetIqn(row.target_id) : null;
      if (iqn) {
        try {
          live = await this.d.liveConnections(iqn);
          facts.connections = live;
        } catch (err) {
          // the target cannot be asked: the monitor's last view (knownAddresses) decides
          this.d.log.warn({ err, iqn }, 'boot guard: cannot read the live connections');
        }
      } else if (row.state !== 'starting') {
        facts.connections = [];
      }
    }
    let v = decideBoot(facts);
    if (v.kind === 'probe') {
      const mine = live.filter((c) => c.address === r.clientIp);
      v = decideBoot({ ...facts, nowMs: this.now() }, await this.alive(iqn!, mine));
    }
    if (v.kind === 'refuse') {
      await this.record(r, v);
      return {
        refused: {
          reason: v.reason,
          script: refusalScript({
            reason: v.reason,
            machineName: r.machine?.name ?? null,
            mac: r.mac,
            clientIp: r.clientIp,
            baseUrl: r.baseUrl,
          }),
        },
      };
    }
    if (v.kind === 'resume') return { resume: { sessionId: v.sessionId, mode: v.mode } };
    return {};
  }

  /**
   * Whether one of these connections is still in use: its received-bytes counter moves within
   * probeMs (a live initiator answers the target's pings every few seconds). A driver that cannot
   * tell keeps the old behaviour: the same address is the PC that rebooted.
   */
  private async alive(iqn: string, conns: LiveConnection[]): Promise<boolean> {
    const rx = this.d.connectionRx;
    if (!rx || !conns.length) return false;
    const sleep = this.d.sleep ?? ((n: number) => new Promise<void>((ok) => setTimeout(ok, n)));
    const first = await Promise.all(conns.map((c) => rx(iqn, c).catch(() => null)));
    if (first.every((x) => x === null)) return false;
    const until = this.now() + (this.d.probeMs ?? PROBE_MS);
    while (this.now() < until) {
      await sleep(PROBE_STEP_MS);
      const next = await Promise.all(conns.map((c) => rx(iqn, c).catch(() => null)));
      if (next.some((x, i) => x !== null && first[i] !== null && x !== first[i])) return true;
      if (next.every((x) => x === null)) return false;
    }
    return false;
  }

  private async record(r: GuardRequest, v: Extract<Verdict, { kind: 'refuse' }>): Promise<void> {
    const key = `${r.mac}|${r.clientIp}|${v.reason}`;
    const now = this.now();
    const last = this.recorded.get(key);
    if (last !== undefined && now - last < RECORD_MS) return;
    this.recorded.set(key, now);
    if (this.recorded.size > 10_000)
      for (const [k, at] of this.recorded) if (now - at > RECORD_MS) this.recorded.delete(k);
    this.d.log.warn(
      { mac: r.mac, ip: r.clientIp, reason: v.reason, owner: v.owner, session: v.sessionId },
      'boot request refused',
    );
    try {
      const ev = await this.d.recordEvent({
        at: nowIso(),
        mac: r.mac,
        machineId: r.machine?.id ?? null,
        sessionId: v.sessionId,
        kind: 'refused',
        detail: {
          reason: v.reason,
          ip: r.clientIp,
          ...(v.owner ? { owner: v.owner } : {}),
          ...(r.machine ? { machineName: r.machine.name } : {}),
        },
      });
      // recordEvent published it as `boot.event` already; this is the refusal's own notice
      if (ev) this.d.bus.publish('boot.refused', String(ev.id), ev);
      await this.d.audit({ machineId: r.machine?.id ?? null, mac: r.mac, ip: r.clientIp, reason: v.reason });
    } catch (err) {
      this.d.log.error({ err }, 'could not record a refused boot request');
    }
  }
}
