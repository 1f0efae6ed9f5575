import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import type { DhcpSnippet, DhcpSnippetFormat, DhcpStatus, Settings } from '@ggnet/contracts';
import type { Logger } from 'pino';
import { unavailable } from '../../errors/app-error.js';
import type { EventBus } from '../../events/event-bus.js';
import type { Dnsmasq, DnsmasqConfig, DnsmasqEvent } from '../../adapters/dnsmasq/dnsmasq.adapter.js';
import { crossCheck, type SettingsService } from '../settings/settings.service.js';
import type { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { DhcpRepository } from './dhcp.repository.js';
import { renderSnippet } from './dhcp-snippets.js';
import { pickAddresses } from '../../adapters/dnsmasq/dnsmasq-config.js';

export interface DhcpServiceOptions {
  dataDir: string;
  /** Where Debian's ipxe package puts its binaries. */
  ipxeDir: string;
  /** Port of GGnet's HTTP server (the boot URL uses network.bootHttpPort when set). */
  httpPort: () => number;
  /** Files dnsmasq writes (pid, leases), from the adapter. */
  files: { pid: string; leases: string; hosts?: string };
  /** The reconcile loop also runs this often (a dnsmasq that could not start is tried again). */
  reconcileIntervalSec?: number;
}

export const BIOS_FILE = 'undionly.kpxe';
const EFI_CANDIDATES = ['snponly.efi', 'ipxe.efi'];

/** First IPv4 address of an interface of this host (network namespace). */
export function ifaceAddress(iface: string): string | null {
  const addrs = networkInterfaces()[iface] ?? [];
  return (
    addrs.find((a) => a.family === 'IPv4' && !a.internal)?.address ??
    addrs.find((a) => a.family === 'IPv4')?.address ??
    null
  );
}

/** True when every directory above `path` can be traversed by other users (dnsmasq drops root). */
function traversableByOthers(path: string): boolean {
  let dir = path;
  for (;;) {
    try {
      if ((statSync(dir).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    const up = dirname(dir);
    if (up === dir) return true;
    dir = up;
  }
}

function userExists(name: string): boolean {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${name}:`));
  } catch {
    return false;
  }
}

/**
 * Keeps dnsmasq (DHCP / proxyDHCP / TFTP) in line with the settings, fills the TFTP root with iPXE,
 * prints configuration for external DHCP servers, and turns dnsmasq's log into boot events.
 */
export class DhcpService {
  private problem: string | null = null;
  private lastEventAt: string | null = null;
  private last: {
    mode: Settings['dhcp']['mode'];
    iface: string | null;
    bootAddr: string | null;
    scriptUrl: string | null;
    tftp: boolean;
  } = {
    mode: 'off',
    iface: null,
    bootAddr: null,
    scriptUrl: null,
    tftp: false,
  };
  private timer: NodeJS.Timeout | null = null;
  private loop: NodeJS.Timeout | null = null;
  private published = '';
  private unsubscribe: (() => void) | null = null;
  private reconciling: Promise<void> = Promise.resolve();
  readonly tftpRoot: string;

  constructor(
    private readonly dnsmasq: Dnsmasq,
    private readonly settings: SettingsService,
    private readonly repo: DhcpRepository,
    private readonly events: BootEventRecorder,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly opts: DhcpServiceOptions,
  ) {
    this.tftpRoot = join(opts.dataDir, 'tftp');
    dnsmasq.setEventHandler((evs) => this.record(evs));
  }

  /** Address clients reach GGnet at: network.bootAddr, else the first IPv4 address of dhcp.iface. */
  bootAddr(s: Settings): string | null {
    return s.network.bootAddr ?? (s.dhcp.iface ? ifaceAddress(s.dhcp.iface) : null);
  }

  private port(s: Settings): number {
    return s.network.bootHttpPort ?? this.opts.httpPort();
  }

  /** The URL GGnet's own DHCP gives iPXE: iPXE fills in its MAC, build architecture and platform. */
  scriptUrlFor(addr: string, s: Settings): string {
    return `http://${addr}:${this.port(s)}/boot/ipxe?mac=\${netX/mac}&arch=\${buildarch}&platform=\${platform}`;
  }

  /** Copies iPXE from the ipxe package into the TFTP root (when missing or changed). */
  populateTftpRoot(): { biosFile: string | null; efiFile: string | null } {
    mkdirSync(this.tftpRoot, { recursive: true, mode: 0o755 });
    chmodSync(this.tftpRoot, 0o755);
    const have: string[] = [];
    for (const f of [BIOS_FILE, ...EFI_CANDIDATES]) {
      const src = join(this.opts.ipxeDir, f);
      const dst = join(this.tftpRoot, f);
      if (!existsSync(src)) continue;
      const a = statSync(src);
      const b = existsSync(dst) ? statSync(dst) : null;
      if (!b || b.size !== a.size || b.mtimeMs < a.mtimeMs) {
        copyFileSync(src, dst);
        chmodSync(dst, 0o644);
      }
      have.push(f);
    }
    return {
      biosFile: have.includes(BIOS_FILE) ? BIOS_FILE : null,
      efiFile: EFI_CANDIDATES.find((f) => have.includes(f)) ?? null,
    };
  }

  /** What dnsmasq should run, or null (and why). */
  async desired(): Promise<{ config: DnsmasqConfig | null; problem: string | null }> {
    const s = await this.settings.get();
    const d = s.dhcp;
    const addr = this.bootAddr(s);
    this.last = {
      mode: d.mode,
      iface: d.iface,
      bootAddr: addr,
      scriptUrl: addr ? this.scriptUrlFor(addr, s) : null,
      tftp: false,
    };
    if (!addr) {
      if (d.mode === 'off') return { config: null, problem: null };
      return {
        config: null,
        problem: d.iface
          ? `interface ${d.iface} has no IPv4 address; set network.bootAddr or configure the interface`
          : 'set dhcp.iface (the boot network interface) or network.bootAddr',
      };
    }
    if (d.mode !== 'off') {
      // values that never passed the settings' checks (pinned by the environment, stored by an older
      // version): a netmask of 0.0.0.0 would make the address pool billions of addresses long
      const bad = crossCheck(s).filter((e) => /^dhcp\.(netmask|rangeStart|rangeEnd)$/.test(e.path));
      if (bad.length) return { config: null, problem: bad.map((e) => `${e.path}: ${e.message}`).join('; ') };
    }
    const files = this.populateTftpRoot();
    const missing = !files.biosFile || !files.efiFile;
    // dnsmasq drops root (to its own user) only when it can still reach, as that user, its TFTP root
    // and the hosts file it re-reads on SIGHUP (see lib/data-dir.ts for their modes)
    const hosts = this.opts.files.hosts;
    const reachable = traversableByOthers(this.tftpRoot) && (!hosts || traversableByOthers(dirname(hosts)));
    const user =
      process.getuid?.() !== 0 ? null : reachable ? (userExists('dnsmasq') ? 'dnsmasq' : null) : 'root';
    const fixed = d.mode === 'dhcp' ? await this.repo.reservations() : [];
    // every other registered machine gets an address of its own from the range (see pickAddresses)
    const auto =
      d.mode === 'dhcp' && d.rangeStart && d.rangeEnd && this.opts.files.hosts
        ? pickAddresses(await this.repo.machinesWithoutFixedIp(), { start: d.rangeStart, end: d.rangeEnd }, [
            ...fixed.map((r) => r.ip),
            addr,
            ...(d.router ? [d.router] : []),
          ])
        : [];
    const config: DnsmasqConfig = {
      mode: d.mode === 'off' ? 'tftp' : d.mode,
      iface: d.iface,
      bootAddr: addr,
      scriptUrl: this.scriptUrlFor(addr, s),
      tftpRoot: this.tftpRoot,
      biosFile: files.biosFile ?? BIOS_FILE,
      efiFile: files.efiFile ?? EFI_CANDIDATES[0]!,
      range:
        d.mode === 'dhcp' && d.rangeStart && d.rangeEnd
          ? { start: d.rangeStart, end: d.rangeEnd, netmask: d.netmask, leaseTimeSec: d.leaseTimeSec }
          : null,
      netmask: d.netmask,
      router: d.router,
      dns: d.dns,
      reservations: fixed,
      hostsFile: d.mode === 'dhcp' ? (this.opts.files.hosts ?? null) : null,
      autoReservations: auto,
      ipv6Ra: d.ipv6Ra,
      leaseFile: this.opts.files.leases,
      pidFile: this.opts.files.pid,
      user,
    };
    if (d.mode === 'dhcp' && !config.range)
      return { config: null, problem: 'dhcp mode needs dhcp.rangeStart and dhcp.rangeEnd' };
    this.last.tftp = true;
    return {
      config,
      problem: missing
        ? `iPXE binaries missing in ${this.opts.ipxeDir} (install Debian's ipxe package): PXE firmware cannot load iPXE`
        : null,
    };
  }

  /** Makes dnsmasq match the settings; never throws (the problem is reported in status()). */
  reconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(async () => {
      try {
        const { config, problem } = await this.desired();
        await this.dnsmasq.apply(config);
        this.problem = problem;
      } catch (err) {
        this.problem = (err as Error).message;
        this.log.error({ err }, 'DHCP/TFTP configuration could not be applied');
      }
      const st = this.status();
      const key = JSON.stringify({ ...st, lastEventAt: null });
      if (key !== this.published) this.bus.publish('boot.dhcp', 'dhcp', st);
      this.published = key;
    });
    return this.reconciling;
  }

  status(): DhcpStatus {
    const st = this.dnsmasq.status();
    return {
      mode: this.last.mode,
      daemon: st.state,
      pid: st.pid,
      restarts: st.restarts,
      tftp: this.last.tftp && st.state === 'running',
      iface: this.last.iface,
      bootAddr: this.last.bootAddr,
      scriptUrl: this.last.scriptUrl,
      problem: this.problem ?? st.error,
      lastEventAt: this.lastEventAt,
    };
  }

  async snippet(format: DhcpSnippetFormat): Promise<DhcpSnippet> {
    const s = await this.settings.get();
    const addr = this.bootAddr(s);
    if (!addr) {
      throw unavailable(
        'no_boot_address',
        'GGnet does not know the address clients reach it at',
        'set network.bootAddr (GGNET_BOOT_ADDR) or dhcp.iface (GGNET_BOOT_IFACE)',
      );
    }
    const efi = EFI_CANDIDATES.find((f) => existsSync(join(this.opts.ipxeDir, f))) ?? EFI_CANDIDATES[0]!;
    const input = {
      bootAddr: addr,
      scriptUrl: `http://${addr}:${this.port(s)}/boot/ipxe`,
      biosFile: BIOS_FILE,
      efiFile: efi,
    };
    return { format, ...input, text: renderSnippet(format, input) };
  }

  /** Waits until every DHCP/TFTP event dnsmasq has logged is in the database. */
  drain(): Promise<void> {
    return this.dnsmasq.drain();
  }

  private async record(evs: DnsmasqEvent[]): Promise<void> {
    const macs = [...new Set(evs.map((e) => e.mac).filter((m): m is string => !!m))];
    const known = await this.repo.machinesByMac(macs);
    const rows = evs.map((e) => {
      const m = e.mac ? known.get(e.mac) : undefined;
      return {
        at: e.at.toISOString(),
        mac: e.mac,
        machineId: m?.machineId ?? null,
        // firmware/iPXE steps belong to the boot about to start (linked when its script is served);
        // an operating system's own DHCP belongs to the session it runs in
        sessionId: !e.firmware && m?.sessionId ? m.sessionId : null,
        kind: e.kind,
        detail: { ...e.detail, ...(e.ip ? { ip: e.ip } : {}) },
      };
    });
    const inserted = await this.events.recordMany(rows);
    if (inserted.length) this.lastEventAt = inserted.at(-1)!.at;
  }

  /** Applies the settings now and again whenever they (or fixed machine addresses) change. */
  async start(): Promise<void> {
    this.unsubscribe = this.bus.subscribe((e) => {
      if (
        e.type === 'settings.updated' ||
        e.type === 'machine.created' ||
        e.type === 'machine.deleted' ||
        (e.type === 'machine.updated' && this.last.mode === 'dhcp')
      ) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.reconcile(), e.type === 'settings.updated' ? 50 : 500);
        this.timer.unref();
      }
    });
    await this.reconcile();
    this.loop = setInterval(() => void this.reconcile(), (this.opts.reconcileIntervalSec ?? 30) * 1000);
    this.loop.unref();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.loop) clearInterval(this.loop);
    await this.reconciling.catch(() => undefined);
    await this.dnsmasq.stop();
  }
}
