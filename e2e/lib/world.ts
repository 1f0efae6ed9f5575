import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootEvent, Machine, Page } from '@ggnet/contracts';
import { E2E_CACHE } from './bootdisk.js';
import { GGnetUnderTest, REPO } from './ggnet.js';
import { BootNet } from './netns.js';
import { Procs, waitFor } from './proc.js';
import { Vm, type Firmware } from './qemu.js';

/** Artifacts (serial logs, GGnet logs, timings) of one test file: test-output/e2e/<name>/. */
export function artifactsDir(name: string): string {
  const dir = join(REPO, 'test-output', 'e2e', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface WorldOptions {
  name: string;
  /** GGNET_* settings pins for the GGnet under test. */
  env?: Record<string, string>;
  /** A second namespace on the segment for the site's own DHCP server. */
  dhcpPeer?: boolean;
}

/**
 * Everything one e2e file needs: the boot segment (namespace + bridge), GGnet running in it, VMs on
 * taps. Everything is stopped by PID and deleted in close(), also when a test failed.
 */
export class World {
  readonly net = new BootNet();
  readonly procs = new Procs();
  readonly artifacts: string;
  readonly runDir: string;
  readonly ggnet: GGnetUnderTest;
  private readonly vms: Vm[] = [];
  readonly timings: Record<string, unknown> = {};
  readonly tgtControlPort = 20000 + Math.floor(Math.random() * 20000);

  constructor(readonly o: WorldOptions) {
    this.artifacts = artifactsDir(o.name);
    mkdirSync(E2E_CACHE, { recursive: true });
    // under /var/tmp with 0755 parents: dnsmasq drops root and must still read the TFTP root
    this.runDir = mkdtempSync(join(E2E_CACHE, 'run-'));
    this.ggnet = new GGnetUnderTest({
      net: this.net,
      procs: this.procs,
      dataDir: join(this.runDir, 'data'),
      artifacts: this.artifacts,
      env: {
        GGNET_BOOT_IFACE: this.net.bridge,
        GGNET_BOOT_ADDR: this.net.addr,
        // a control port of its own: other test runs use other tgtd instances
        GGNET_TGT_CONTROL_PORT: String(this.tgtControlPort),
        GGNET_ISCSI_PORTAL: `${this.net.addr}:3260`,
        ...o.env,
      },
    });
  }

  async start(): Promise<void> {
    this.net.up();
    if (this.o.dhcpPeer) this.net.addDhcpPeer();
    await this.ggnet.start();
  }

  vm(name: string, firmware: Firmware, mac: string, opts: { hold?: number } = {}): Vm {
    const vm = new Vm({
      name,
      firmware,
      mac,
      net: this.net,
      procs: this.procs,
      artifacts: this.artifacts,
      ...opts,
    });
    this.vms.push(vm);
    return vm;
  }

  get api() {
    return this.ggnet.api;
  }

  async events(mac: string): Promise<BootEvent[]> {
    const page = await this.api.get<Page<BootEvent>>(
      `/api/v1/boot/events?mac=${encodeURIComponent(mac)}&limit=500`,
    );
    return page.items.reverse();
  }

  async machineByMac(mac: string): Promise<Machine | null> {
    const page = await this.api.get<Page<Machine>>(`/api/v1/machines?q=${encodeURIComponent(mac)}&limit=5`);
    return page.items.find((m) => m.mac === mac) ?? null;
  }

  /** Waits until the boot events of a MAC satisfy `pred` (the log tail runs every few ms). */
  waitEvents(mac: string, what: string, pred: (e: BootEvent[]) => boolean, timeoutMs = 20_000) {
    return waitFor(
      what,
      async () => {
        const ev = await this.events(mac);
        return pred(ev) ? ev : null;
      },
      timeoutMs,
      300,
    );
  }

  record(key: string, value: unknown): void {
    this.timings[key] = value;
    writeFileSync(join(this.artifacts, 'timings.json'), `${JSON.stringify(this.timings, null, 2)}\n`);
  }

  async close(): Promise<void> {
    for (const vm of this.vms) await vm.stop().catch(() => undefined);
    await this.ggnet.close().catch(() => undefined);
    // dnsmasq's log (DHCP/TFTP as the daemon saw them) is kept with the other artifacts
    for (const f of ['dnsmasq.log', 'dnsmasq.conf']) {
      const src = join(this.runDir, 'data', 'dnsmasq', f);
      if (existsSync(src)) copyFileSync(src, join(this.artifacts, f));
    }
    await this.procs.stopAll();
    // tgtd outlives GGnet by design; it runs in our namespace and goes with it, its socket with us
    this.net.down();
    for (const f of ['', '.lock']) rmSync(`/var/run/tgtd/socket.${this.tgtControlPort}${f}`, { force: true });
    rmSync(this.runDir, { recursive: true, force: true });
  }
}
