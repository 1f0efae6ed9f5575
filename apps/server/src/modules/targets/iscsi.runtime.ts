import { readFileSync } from 'node:fs';
import { availableParallelism, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { IscsiStatus, Settings } from '@ggnet/contracts';
import type { Config } from '../../config/config.schema.js';
import { unavailable } from '../../errors/app-error.js';
import type { EventBus } from '../../events/event-bus.js';
import type { ProcessRunner } from '../../adapters/process/process-runner.adapter.js';
import type { SupervisedDaemon } from '../../adapters/process/supervisor.js';
import type { IscsiTargetDriver, LiveTarget } from '../../adapters/iscsi/iscsi-target.adapter.js';
import { LioDriver } from '../../adapters/iscsi/lio.adapter.js';
import { TGT_TARGET_PARAMS, TgtDriver, TgtNotOursError } from '../../adapters/iscsi/tgt.adapter.js';
import { createTgtDaemon, tgtdIsOurs } from '../../adapters/iscsi/tgt-daemon.js';
import { foreignTgtd } from '../../adapters/iscsi/tgt-owner.js';
import { TgtPool, daemonPortalPort } from '../../adapters/iscsi/tgt-pool.js';
import type { SettingsService } from '../settings/settings.service.js';

export function parsePortal(portal: string): { host: string; port: number } {
  const i = portal.lastIndexOf(':');
  return { host: portal.slice(0, i), port: Number(portal.slice(i + 1)) };
}

/** The address clients must use for the portal: network.bootAddr, else the portal host, else dhcp.iface's. */
export function clientPortalHost(s: Settings): string | null {
  if (s.network.bootAddr) return s.network.bootAddr;
  const { host } = parsePortal(s.iscsi.portal);
  if (host !== '0.0.0.0') return host;
  if (s.dhcp.iface) {
    const addr = networkInterfaces()[s.dhcp.iface]?.find((a) => a.family === 'IPv4' && !a.internal);
    if (addr) return addr.address;
  }
  return null;
}

/** One of GGnet's target daemons, as the status shows it. */
export interface DaemonStatus {
  index: number;
  state: 'stopped' | 'starting' | 'running' | 'restarting' | 'failed' | 'conflict';
  pid: number | null;
  adopted: boolean;
  restarts: number;
  controlPort: number;
  portalPort: number;
  /** A process that is not GGnet's own holds this daemon's control port (state `conflict`). */
  conflict: string | null;
}

/** How many tgtd instances settings ask for (0: one per CPU core). */
export const daemonCountFor = (s: Settings): number =>
  s.iscsi.backend === 'lio' ? 1 : s.iscsi.daemons > 0 ? s.iscsi.daemons : Math.max(1, availableParallelism());

/**
 * The iSCSI side at run time: which driver (settings iscsi.backend, fixed at start-up), GGnet's own
 * tgtd instances (iscsi.daemons, one per core by default, fixed at start-up; supervised), the
 * portals, and a short cache of the live state for API reads. Requests only ever go to a tgtd that
 * is GGnet's own: each daemon's driver is guarded by its supervisor's verdict.
 */
export class IscsiRuntime {
  private _driver: IscsiTargetDriver | null = null;
  private daemons: SupervisedDaemon[] = [];
  private liveCache: { at: number; value: Promise<LiveTarget[]> } | null = null;

  constructor(
    private readonly config: Config,
    private readonly settings: SettingsService,
    private readonly runner: ProcessRunner,
    private readonly bus: EventBus,
    private readonly log: Logger,
    driver?: IscsiTargetDriver,
  ) {
    this._driver = driver ?? null;
  }

  private controlPort(i: number): number {
    return this.config.tgtControlPort + i;
  }

  /** Requests to daemon i are sent only while it is running and known to be ours. */
  private guard(i: number): void {
    const port = this.controlPort(i);
    const d = this.daemons[i];
    if (d) {
      if (d.serving) return;
      throw new TgtNotOursError(port, d.conflict ?? `GGnet's tgtd is not serving (state ${d.state})`);
    }
    // not supervised by this process (a CLI command, a test): the pid file's tgtd must hold the port
    let pid: number | null = null;
    try {
      pid = Number(readFileSync(join(this.config.dataDir, 'run', `tgtd.${port}.pid`), 'utf8').trim()) || null;
    } catch {
      pid = null;
    }
    if (pid !== null && tgtdIsOurs(port, pid)) return;
    throw new TgtNotOursError(port, foreignTgtd(port, pid)?.message ?? "GGnet's tgtd is not running");
  }

  async driver(): Promise<IscsiTargetDriver> {
    if (this._driver) return this._driver;
    const s = await this.settings.get();
    if (s.iscsi.backend === 'lio') {
      this._driver = new LioDriver(
        this.runner,
        join(this.config.dataDir, 'run'),
        parsePortal(s.iscsi.portal),
      );
      return this._driver;
    }
    const n = daemonCountFor(s);
    this._driver = new TgtPool(
      Array.from(
        { length: n },
        (_, i) =>
          new TgtDriver(this.runner, this.controlPort(i), {
            transport: 'auto',
            onFallback: (why) => this.log.warn({ why }, 'tgtd socket protocol differs; using tgtadm'),
            guard: () => this.guard(i),
            targetParams: this.config.tgtdTuning ? TGT_TARGET_PARAMS : undefined,
            onParamError: (name, err) =>
              this.log.warn(
                { param: name, err: String(err) },
                'tgtd refused a target parameter; the target keeps its default',
              ),
          }),
      ),
    );
    return this._driver;
  }

  /** The pool of tgtd instances, when the backend is tgt (with GGnet's own driver). */
  async pool(): Promise<TgtPool | null> {
    const d = await this.driver();
    return d instanceof TgtPool ? d : null;
  }

  async portal(): Promise<{ host: string; port: number }> {
    return parsePortal((await this.settings.get()).iscsi.portal);
  }

  /**
   * Every local TCP port on which GGnet's iSCSI portals listen (one per daemon, in daemon order):
   * the session monitor reads the traffic of the connections on these ports.
   */
  async portalPorts(): Promise<number[]> {
    const base = (await this.portal()).port;
    const pool = await this.pool();
    return Array.from({ length: pool?.size ?? 1 }, (_, i) => daemonPortalPort(base, i));
  }

  /**
   * Where clients connect (daemon: the target's daemon, whose portal port is the base port + its
   * index): refuses (503) when no address is known rather than handing out 0.0.0.0.
   */
  async clientPortal(daemon: number | null = null): Promise<{ host: string; port: number }> {
    const s = await this.settings.get();
    const host = clientPortalHost(s);
    if (!host)
      throw unavailable(
        'portal_address_unknown',
        `the iSCSI portal listens on ${s.iscsi.portal} and no address for clients is configured`,
        'set network.bootAddr (GGNET_BOOT_ADDR) or a specific portal host in iscsi.portal',
      );
    return { host, port: daemonPortalPort(parsePortal(s.iscsi.portal).port, daemon ?? 0) };
  }

  /** Which daemons may take new targets now (running and ours); all true without supervised daemons. */
  async usableDaemons(): Promise<boolean[]> {
    const pool = await this.pool();
    const n = pool?.size ?? 1;
    if (!this.daemons.length) return Array.from({ length: n }, () => true);
    return Array.from({ length: n }, (_, i) => this.daemons[i]?.serving ?? false);
  }

  /**
   * Refuses (503, code `iscsi_unavailable`) when no target daemon can serve a disk: every one of
   * GGnet's tgtd instances is down, failed, or its control port is held by a tgtd that is not ours.
   * A boot then gets a screen that says so instead of a portal nobody serves.
   */
  async assertServing(): Promise<void> {
    if (!this.daemons.length || this.daemons.some((d) => d.serving)) return;
    const conflicts = this.daemons.map((d) => d.conflict).filter((c): c is string => !!c);
    throw unavailable(
      'iscsi_unavailable',
      conflicts.length
        ? `the disk service is unavailable: ${conflicts[0]}`
        : `the disk service is unavailable: GGnet's tgtd is ${this.daemons[0]!.state}`,
      conflicts.length
        ? 'stop the other tgtd or give GGnet other control ports (GGNET_TGT_CONTROL_PORT), then restart GGnet'
        : 'see the GGnet server log and `ggnet doctor`',
    );
  }

  /** What keeps the iSCSI side from being ready (/readyz): a foreign tgtd on a control port, a failed daemon. */
  notReady(): { reason: 'iscsi_conflict' | 'iscsi_failed'; detail: string } | null {
    const c = this.daemons.find((d) => d.conflict);
    if (c) return { reason: 'iscsi_conflict', detail: c.conflict! };
    const f = this.daemons.find((d) => d.state === 'failed');
    if (f) return { reason: 'iscsi_failed', detail: `${f.spec.name} failed and is no longer restarted` };
    return null;
  }

  /** Starts (or adopts) GGnet's tgtd instances when the backend is tgt; makes the portals match the settings. */
  async start(): Promise<void> {
    const driver = await this.driver();
    const portal = await this.portal();
    if (driver instanceof TgtPool && !this.daemons.length) {
      this.daemons = driver.members.map((member, i) => {
        const name = i === 0 ? 'tgtd' : `tgtd#${i}`;
        const daemon = createTgtDaemon(
          {
            dataDir: this.config.dataDir,
            heapBuffers: this.config.tgtdTuning,
            controlPort: this.controlPort(i),
            portal: `${portal.host}:${daemonPortalPort(portal.port, i)}`,
            name,
          },
          member,
          this.log,
        );
        daemon.on('restarted', (n: number) => {
          this.log.warn({ daemon: name, restarts: n }, 'tgtd was restarted; recreating targets');
          this.invalidate();
          this.bus.publish('iscsi.restarted', name, { restarts: n });
        });
        daemon.on('state', (state: string) =>
          this.bus.publish('iscsi.daemon', name, { state, conflict: daemon.conflict }),
        );
        return daemon;
      });
      const started = await Promise.allSettled(this.daemons.map((d) => d.start()));
      for (const d of this.daemons)
        if (d.adopted) this.log.info({ daemon: d.spec.name, pid: d.pid }, 'adopted the running tgtd');
      const failed = started.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      // the portals of the daemons that run, even when another one failed
      await this.ensureServingPortals(driver, portal);
      if (failed.length) throw failed[0]!.reason;
      return;
    }
    await driver.ensurePortal(portal.host, portal.port);
  }

  /** Makes every serving daemon's portal match the settings (the reconciler's first step). */
  async ensurePortals(): Promise<void> {
    const driver = await this.driver();
    const portal = await this.portal();
    if (!(driver instanceof TgtPool) || !this.daemons.length)
      return driver.ensurePortal(portal.host, portal.port);
    await this.ensureServingPortals(driver, portal);
  }

  private async ensureServingPortals(pool: TgtPool, portal: { host: string; port: number }): Promise<void> {
    await Promise.all(
      pool.members
        .map((m, i) => ({ m, i }))
        .filter(({ i }) => this.daemons[i]?.serving)
        .map(({ m, i }) => m.ensurePortal(portal.host, daemonPortalPort(portal.port, i))),
    );
  }

  /** Stops supervising; tgtd keeps running (booted clients keep their disks) unless force. */
  async stop(force = false): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.stop(force)));
  }

  /** PID of the first daemon (tests and benchmarks of one daemon). */
  get daemonPid(): number | null {
    return this.daemons[0]?.pid ?? null;
  }

  /** PIDs of every daemon, in daemon order (null: not running). */
  get daemonPids(): (number | null)[] {
    return this.daemons.map((d) => d.pid);
  }

  get daemonAdopted(): boolean {
    return this.daemons[0]?.adopted ?? false;
  }

  invalidate(): void {
    this.liveCache = null;
  }

  /** Live targets, cached for a second (list views poll it). */
  async live(maxAgeMs = 1000): Promise<LiveTarget[]> {
    if (this.liveCache && Date.now() - this.liveCache.at < maxAgeMs) return this.liveCache.value;
    const value = this.driver().then((d) => d.list());
    this.liveCache = { at: Date.now(), value };
    value.catch(() => {
      if (this.liveCache?.value === value) this.liveCache = null;
    });
    return value;
  }

  daemonStatus(portalBase: number): DaemonStatus[] {
    return this.daemons.map((d, i) => ({
      index: i,
      state: d.state,
      pid: d.pid,
      adopted: d.adopted,
      restarts: d.restartCount,
      controlPort: this.controlPort(i),
      portalPort: daemonPortalPort(portalBase, i),
      conflict: d.conflict,
    }));
  }

  /** The target side's status (the reconciler adds its own: see reconcile/iscsi.routes.ts). */
  async status(): Promise<Omit<IscsiStatus, 'lastReconcileAt' | 'lastReconcileError'>> {
    const s = await this.settings.get();
    const live = await this.live().catch(() => [] as LiveTarget[]);
    // the driver is chosen at start-up: a changed iscsi.backend takes effect after a restart
    const driver = await this.driver();
    const daemons = this.daemonStatus(parsePortal(s.iscsi.portal).port);
    const perDaemon = (i: number) => live.filter((t) => (t.daemon ?? 0) === i);
    return {
      backend: driver.backend,
      portal: s.iscsi.portal,
      daemon: daemons[0] ? (({ index: _i, portalPort: _p, ...d }) => d)(daemons[0]) : null,
      daemons: daemons.map((d) => ({
        ...d,
        targets: perDaemon(d.index).length,
        connections: perDaemon(d.index).reduce((n, t) => n + t.connections.length, 0),
      })),
      targets: live.length,
      connections: live.reduce((n, t) => n + t.connections.length, 0),
    };
  }
}
