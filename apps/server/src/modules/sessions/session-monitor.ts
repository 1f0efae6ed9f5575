import type { Logger } from 'pino';
import type { Connection } from '@ggnet/contracts';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { parseJson } from '../../lib/json.js';
import type { SessionOrchestrator } from './session-orchestrator.js';
import type { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { MachinesRepository } from '../machines/machines.repository.js';
import { toSession, type SessionRow, type SessionsRepository } from './sessions.repository.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { TargetsRepository } from '../targets/targets.repository.js';
import type { IscsiRuntime } from '../targets/iscsi.runtime.js';
import type { TcpConnectionStats, TcpStats } from '../../adapters/tcp-stats/tcp-stats.adapter.js';
import type { LiveTraffic, SessionConnections } from '../traffic/live-traffic.js';
import { parsePersistedTraffic } from '../traffic/persisted-traffic.js';

const key = (c: Connection) => `${c.initiator}@${c.address}`;
/** last_activity_at is refreshed at most this often while a client stays logged in. */
const ACTIVITY_WRITE_MS = 30_000;
/** A failing `ss` is logged at most this often. */
const TRAFFIC_WARN_MS = 300_000;
/** A live session's traffic totals are written to its row at most this often (and at its first sample and its end). */
const TRAFFIC_SAVE_MS = 30_000;

const tcpKey = (c: TcpConnectionStats) =>
  `${c.local.address}:${c.local.port}>${c.remote.address}:${c.remote.port}`;

/**
 * The TCP connections of each session: those from the addresses its initiators are logged in from
 * (tgtd's live state). An address that two live sessions share (NAT, tests on loopback) cannot be
 * told apart by TCP and is counted for neither.
 */
export function connectionsBySession(
  sessions: ReadonlyArray<{ sessionId: string; addresses: readonly string[] }>,
  tcp: readonly TcpConnectionStats[],
): Map<string, TcpConnectionStats[]> {
  // address -> the one session logged in from it (null: more than one)
  const owner = new Map<string, string | null>();
  for (const s of sessions)
    for (const a of s.addresses) {
      const had = owner.get(a);
      owner.set(a, had === undefined || had === s.sessionId ? s.sessionId : null);
    }
  const out = new Map<string, TcpConnectionStats[]>(sessions.map((s) => [s.sessionId, []]));
  for (const c of tcp) {
    const id = owner.get(c.remote.address);
    if (id) out.get(id)!.push(c);
  }
  return out;
}

/**
 * Watches the targets' live state: a session whose initiator logs in becomes `active`
 * (boot event iscsi_login), a logout is recorded (iscsi_logout), a session with no connection for
 * sessions.idleTimeoutSec ends as `idle`, and a connection from another address than the target's
 * allowed one is dropped. On tgt such a login is refused by the target itself (the target of a
 * fixed-IP machine is bound to its address only); this catches targets made before that, and LIO.
 * Each pass also samples the kernel's TCP counters of the portal connections (TcpStats) into
 * LiveTraffic: bytes read and written per session, rates, published as `traffic.sample`.
 */
export class SessionMonitor {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private trafficWarnedAt = 0;
  private trafficRestored = false;

  constructor(
    private readonly sessions: SessionsRepository,
    private readonly targets: TargetsRepository,
    private readonly machines: MachinesRepository,
    private readonly bootEvents: BootEventRecorder,
    private readonly orchestrator: SessionOrchestrator,
    private readonly iscsi: IscsiRuntime,
    private readonly settings: SettingsService,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly traffic: { stats: TcpStats; live: LiveTraffic } | null = null,
  ) {}

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(
      () => void this.tick().catch((err) => this.log.warn({ err }, 'session monitor')),
      intervalMs,
    );
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass (ticks never overlap). */
  tick(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    if (this.traffic && !this.trafficRestored) await this.restoreTraffic();
    // the TCP counters are read beside the targets' live state, so that both describe one moment
    const [live, tcp] = await Promise.all([this.iscsi.live(0), this.tcpConnections()]);
    const trafficOf: Array<SessionConnections & { addresses: string[] }> = [];
    const byIqn = new Map(live.map((t) => [t.iqn, t]));
    const idleMs = (await this.settings.get()).sessions.idleTimeoutSec * 1000;
    const driver = await this.iscsi.driver();
    for (const s of await this.sessions.live()) {
      if (s.state === 'starting' || !s.target_id) continue;
      const t = await this.targets.findById(s.target_id);
      if (!t || t.state !== 'active') continue;
      let conns = byIqn.get(t.iqn)?.connections ?? [];
      const machine = await this.machines.findById(s.machine_id);
      const event = (kind: 'iscsi_login' | 'iscsi_logout' | 'error', detail: Record<string, unknown>) =>
        this.bootEvents.record({
          at: nowIso(),
          mac: machine?.mac ?? null,
          machineId: s.machine_id,
          sessionId: s.id,
          kind,
          detail: { target: t.iqn, ...detail },
        });
      if (t.allowed_address) {
        for (const c of conns.filter((x) => x.address !== t.allowed_address)) {
          const kicked = await driver.kick(t.iqn, c).catch(() => false);
          this.log.warn(
            { iqn: t.iqn, address: c.address, kicked },
            'login from an address that is not allowed',
          );
          await event('error', {
            reason: 'address_not_allowed',
            initiator: c.initiator,
            address: c.address,
            allowed: t.allowed_address,
            kicked,
          });
        }
        conns = conns.filter((x) => x.address === t.allowed_address);
      }
      const now = conns.map((c) => ({ initiator: c.initiator, address: c.address }));
      const before = parseJson<Connection[]>(s.connections, []);
      const nowKeys = new Set(now.map(key));
      const beforeKeys = new Set(before.map(key));
      const logins = now.filter((c) => !beforeKeys.has(key(c)));
      const logouts = before.filter((c) => !nowKeys.has(key(c)));
      trafficOf.push({
        sessionId: s.id,
        machineId: s.machine_id,
        machineName: machine?.name ?? null,
        addresses: now.map((c) => c.address),
        conns: [],
      });
      for (const c of logins) await event('iscsi_login', { ...c });
      for (const c of logouts) await event('iscsi_logout', { ...c });

      const at = nowIso();
      const patch: Partial<SessionRow> = {};
      if (logins.length || logouts.length) patch.connections = JSON.stringify(now);
      if (now.length) {
        const last = s.last_activity_at ? Date.parse(s.last_activity_at) : 0;
        if (Date.now() - last > ACTIVITY_WRITE_MS || logins.length) patch.last_activity_at = at;
        if (s.state === 'ready') {
          patch.state = 'active';
          patch.active_at = at;
        }
        if (logins.length) await this.machines.markSeen(s.machine_id, at, now[0]!.address);
      } else {
        const since = Math.max(
          ...[s.last_activity_at, s.ready_at, s.started_at].map((x) => (x ? Date.parse(x) : 0)),
        );
        if (Date.now() - since > idleMs) {
          this.log.info({ session: s.id }, 'session idle: no iSCSI connection; ending it');
          await this.orchestrator.endSession(s.id, 'idle').catch((err) => this.log.warn({ err }, 'idle end'));
          trafficOf.pop();
          continue;
        }
      }
      if (Object.keys(patch).length) {
        await this.sessions.update(s.id, patch, { notState: 'ended' });
        const out = await this.sessions.findById(s.id);
        if (out) this.bus.publish('session.updated', s.id, toSession(out));
      }
    }
    if (tcp) {
      this.sampleTraffic(trafficOf, tcp);
      await this.saveTraffic();
    }
  }

  /** Live sessions go on counting from what their rows saved (a GGnet restarted under live clients). */
  private async restoreTraffic(): Promise<void> {
    const rows = await this.sessions.live();
    this.traffic!.live.restore(
      rows.flatMap((r) => {
        const traffic = parsePersistedTraffic(r.traffic);
        return traffic ? [{ sessionId: r.id, machineId: r.machine_id, machineName: null, traffic }] : [];
      }),
    );
    this.trafficRestored = true;
  }

  /** Totals into the sessions' rows: at a session's first sample, every TRAFFIC_SAVE_MS after, and at its end. */
  private async saveTraffic(): Promise<void> {
    const rows = this.traffic!.live.takeUnsaved(Date.now(), TRAFFIC_SAVE_MS);
    await this.sessions
      .saveTraffic(rows.map((r) => ({ id: r.sessionId, traffic: JSON.stringify(r.traffic) })))
      .catch((err) => this.log.warn({ err, sessions: rows.length }, "cannot save the sessions' traffic"));
  }

  /** The portal connections' counters, or null when they cannot be read this pass (logged). */
  private async tcpConnections(): Promise<TcpConnectionStats[] | null> {
    if (!this.traffic) return null;
    try {
      return await this.traffic.stats.connections(await this.iscsi.portalPorts());
    } catch (err) {
      if (Date.now() - this.trafficWarnedAt > TRAFFIC_WARN_MS) {
        this.trafficWarnedAt = Date.now();
        this.log.warn({ err }, "cannot read the iSCSI connections' TCP counters (ss); no traffic figures");
      }
      return null;
    }
  }

  private sampleTraffic(
    sessions: Array<SessionConnections & { addresses: string[] }>,
    tcp: TcpConnectionStats[],
  ): void {
    const live = this.traffic!.live;
    const wasEmpty = live.followed === 0;
    const bySession = connectionsBySession(sessions, tcp);
    const sample = live.record(
      Date.now(),
      sessions.map(({ addresses: _, ...s }) => ({
        ...s,
        conns: (bySession.get(s.sessionId) ?? []).map((c) => ({
          key: tcpKey(c),
          read: c.bytesAcked,
          written: c.bytesReceived,
        })),
      })),
    );
    // an idle room says so once, then stays quiet
    if (sample.machines.length || !wasEmpty) this.bus.publish('traffic.sample', 'room', sample);
  }
}
