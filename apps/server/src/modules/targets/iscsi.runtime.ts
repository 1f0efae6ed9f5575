import { networkInterfaces } from 'node:os';
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
import { TgtDriver } from '../../adapters/iscsi/tgt.adapter.js';
import { createTgtDaemon } from '../../adapters/iscsi/tgt-daemon.js';
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

/**
 * The iSCSI side at run time: which driver (settings iscsi.backend, fixed at start-up), GGnet's own
 * tgtd (supervised), the portal, and a short cache of the live state for API reads.
 */
export class IscsiRuntime {
  private _driver: IscsiTargetDriver | null = null;
  private daemon: SupervisedDaemon | null = null;
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

  async driver(): Promise<IscsiTargetDriver> {
    if (this._driver) return this._driver;
    const s = await this.settings.get();
    this._driver =
      s.iscsi.backend === 'lio'
        ? new LioDriver(this.runner, join(this.config.dataDir, 'run'), parsePortal(s.iscsi.portal))
        : new TgtDriver(this.runner, this.config.tgtControlPort, {
            transport: 'auto',
            onFallback: (why) => this.log.warn({ why }, 'tgtd socket protocol differs; using tgtadm'),
          });
    return this._driver;
  }

  async portal(): Promise<{ host: string; port: number }> {
    return parsePortal((await this.settings.get()).iscsi.portal);
  }

  /**
   * Every local TCP port on which GGnet's iSCSI portals listen (today the one of iscsi.portal): the
   * session monitor reads the traffic of the connections on these ports.
   */
  async portalPorts(): Promise<number[]> {
    return [(await this.portal()).port];
  }

  /** Where clients connect: refuses (503) when no address is known rather than handing out 0.0.0.0. */
  async clientPortal(): Promise<{ host: string; port: number }> {
    const s = await this.settings.get();
    const host = clientPortalHost(s);
    if (!host)
      throw unavailable(
        'portal_address_unknown',
        `the iSCSI portal listens on ${s.iscsi.portal} and no address for clients is configured`,
        'set network.bootAddr (GGNET_BOOT_ADDR) or a specific portal host in iscsi.portal',
      );
    return { host, port: parsePortal(s.iscsi.portal).port };
  }

  /** Starts (or adopts) GGnet's tgtd when the backend is tgt; makes the portal match the settings. */
  async start(): Promise<void> {
    const driver = await this.driver();
    const portal = await this.portal();
    if (driver instanceof TgtDriver) {
      const s = await this.settings.get();
      this.daemon = createTgtDaemon(
        { dataDir: this.config.dataDir, controlPort: this.config.tgtControlPort, portal: s.iscsi.portal },
        driver,
        this.log,
      );
      this.daemon.on('restarted', (n: number) => {
        this.log.warn({ restarts: n }, 'tgtd was restarted; recreating targets');
        this.invalidate();
        this.bus.publish('iscsi.restarted', 'tgtd', { restarts: n });
      });
      this.daemon.on('state', (state: string) => this.bus.publish('iscsi.daemon', 'tgtd', { state }));
      await this.daemon.start();
      if (this.daemon.adopted) this.log.info({ pid: this.daemon.pid }, 'adopted the running tgtd');
    }
    await driver.ensurePortal(portal.host, portal.port);
  }

  /** Stops supervising; tgtd keeps running (booted clients keep their disks) unless force. */
  async stop(force = false): Promise<void> {
    await this.daemon?.stop(force);
  }

  get daemonPid(): number | null {
    return this.daemon?.pid ?? null;
  }

  get daemonAdopted(): boolean {
    return this.daemon?.adopted ?? false;
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

  /** The target side's status (the reconciler adds its own: see reconcile/iscsi.routes.ts). */
  async status(): Promise<Omit<IscsiStatus, 'lastReconcileAt' | 'lastReconcileError'>> {
    const s = await this.settings.get();
    const live = await this.live().catch(() => [] as LiveTarget[]);
    // the driver is chosen at start-up: a changed iscsi.backend takes effect after a restart
    const driver = await this.driver();
    return {
      backend: driver.backend,
      portal: s.iscsi.portal,
      daemon: this.daemon
        ? {
            state: this.daemon.state,
            pid: this.daemon.pid,
            adopted: this.daemon.adopted,
            restarts: this.daemon.restartCount,
            controlPort: this.config.tgtControlPort,
          }
        : null,
      targets: live.length,
      connections: live.reduce((n, t) => n + t.connections.length, 0),
    };
  }
}
