import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { BootEvent, Image, ImageVersion, Machine, Page, Session } from '@ggnet/contracts';
import { E2E_CACHE } from './bootdisk.js';
import { GGnetUnderTest, REPO } from './ggnet.js';
import { BootNet } from './netns.js';
import { Procs, sh, tgtShowTargets, waitFor } from '@ggnet/testkit';

/**
 * Session-disk backend of the GGnet under test (GGNET_E2E_STORAGE_BACKEND, e.g. qcow2; default: what
 * GGnet detects, reflink on the tests' XFS).
 */
export const E2E_STORAGE_BACKEND = process.env.GGNET_E2E_STORAGE_BACKEND || null;
import { E2E_IPXE_DIR, Vm, type Firmware } from './qemu.js';

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
  /** Put GGnet's data dir on an XFS (reflink) loop file system, as in production. */
  xfs?: boolean;
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
  readonly tgtControlPort = 20000 + Math.floor(Math.random() * 12000);

  constructor(readonly o: WorldOptions) {
    this.artifacts = artifactsDir(o.name);
    mkdirSync(E2E_CACHE, { recursive: true });
    // under /var/tmp with 0755 parents: dnsmasq drops root and must still read the TFTP root
    this.runDir = mkdtempSync(join(E2E_CACHE, 'run-'));
    chmodSync(this.runDir, 0o755);
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
        ...(E2E_IPXE_DIR ? { GGNET_IPXE_DIR: E2E_IPXE_DIR } : {}),
        ...(E2E_STORAGE_BACKEND ? { GGNET_STORAGE_BACKEND: E2E_STORAGE_BACKEND } : {}),
        ...o.env,
      },
    });
  }

  private xfsLoop: { img: string; mnt: string } | null = null;

  /** Steps of the test world with timestamps (artifact world.log), to see where a run got stuck. */
  log(line: string): void {
    appendFileSync(join(this.artifacts, 'world.log'), `${new Date().toISOString()} ${line}\n`);
  }

  async start(): Promise<void> {
    this.log(`start: namespace ${this.net.ns}, run dir ${this.runDir}`);
    if (this.o.xfs) {
      const img = join(this.runDir, 'xfs.img');
      const mnt = join(this.runDir, 'data');
      mkdirSync(mnt, { recursive: true });
      await sh('truncate', ['-s', '4G', img]);
      await sh('mkfs.xfs', ['-q', '-m', 'reflink=1', img]);
      await sh('mount', ['-o', 'loop', img, mnt]);
      this.xfsLoop = { img, mnt };
      chmodSync(mnt, 0o755);
    }
    this.net.up();
    if (this.o.dhcpPeer) this.net.addDhcpPeer();
    this.log('namespace up; starting ggnet serve');
    await this.ggnet.start();
    this.log(`ggnet up (pid ${this.ggnet.pid}), API at ${this.api.baseUrl}`);
  }

  /**
   * The site's own DHCP server in the peer namespace (dhcpPeer): a plain dnsmasq that hands out
   * addresses and no boot options at all, as a LAN café's router does; GGnet answers as proxyDHCP.
   */
  async startSiteDhcp(range = '10.99.0.100,10.99.0.199'): Promise<void> {
    const conf = join(this.runDir, 'site-dhcp.conf');
    writeFileSync(
      conf,
      [
        'port=0',
        'interface=eth0',
        'bind-interfaces',
        'no-resolv',
        'no-hosts',
        `pid-file=${join(this.runDir, 'site-dhcp.pid')}`,
        `dhcp-leasefile=${join(this.runDir, 'site-dhcp.leases')}`,
        'log-dhcp',
        'no-ping',
        'dhcp-authoritative',
        'dhcp-option=option:router',
        `dhcp-range=${range},255.255.255.0,10m`,
        '',
      ].join('\n'),
    );
    const [cmd, args] = this.net.exec(
      ['dnsmasq', '-k', `--conf-file=${conf}`, '--log-facility=-'],
      this.net.dhcpNs,
    );
    this.procs.start('site-dhcp', cmd, args, { logFile: join(this.artifacts, 'site-dhcp.log') });
    await waitFor('the site DHCP server', () => this.net.pids(this.net.dhcpNs).length > 0, 5000);
  }

  vm(
    name: string,
    firmware: Firmware,
    mac: string,
    opts: { hold?: number; ipxeScript?: string; serialInput?: boolean } = {},
  ): Vm {
    this.log(`vm ${name}: ${firmware} ${mac}`);
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

  get dataDir(): string {
    return join(this.runDir, 'data');
  }

  /**
   * Uploads a disk image through the API (create + PUT content, as `curl -T` does) and waits for the
   * conversion; the first version is published by GGnet itself.
   */
  async uploadImage(name: string, file: string): Promise<{ image: Image; version: ImageVersion }> {
    const image = await this.api.post<Image>('/api/v1/images', { name, osType: 'linux' });
    const body = readFileSync(file);
    const res = await fetch(
      `${this.api.baseUrl}/api/v1/images/${image.id}/content?filename=${encodeURIComponent(file.split('/').pop()!)}`,
      {
        method: 'PUT',
        headers: { authorization: `Bearer ${this.api.token}`, 'content-type': 'application/octet-stream' },
        body,
      },
    );
    if (!res.ok) throw new Error(`upload: HTTP ${res.status} ${await res.text()}`);
    const ready = await waitFor(
      `image ${name} to be converted`,
      async () => {
        const i = await this.api.get<Image>(`/api/v1/images/${image.id}`);
        if (i.state === 'failed') throw new Error(`conversion failed: ${i.error}`);
        return i.state === 'ready' && i.publishedVersionId ? i : null;
      },
      120_000,
      500,
    );
    const version = await this.api.get<ImageVersion>(
      `/api/v1/images/${image.id}/versions/${ready.publishedVersionId}`,
    );
    return { image: ready, version };
  }

  /** sha256 of a version's raw file on GGnet's storage. */
  versionSha256(imageId: string, versionId: string): string {
    const f = join(this.dataDir, 'images', imageId, 'versions', `${versionId}.raw`);
    return createHash('sha256').update(readFileSync(f)).digest('hex');
  }

  session(id: string): Promise<Session> {
    return this.api.get<Session>(`/api/v1/sessions/${id}`);
  }

  timeline(sessionId: string): Promise<BootEvent[]> {
    return this.api
      .get<{ items: BootEvent[] }>(`/api/v1/sessions/${sessionId}/timeline`)
      .then((r) => r.items);
  }

  /** What GGnet's tgtd serves: target IQN -> backing files of its LUNs (asked from tgtd itself). */
  async backingStores(): Promise<Map<string, string[]>> {
    const out = await tgtShowTargets(this.tgtControlPort);
    const map = new Map<string, string[]>();
    let iqn: string | null = null;
    for (const line of out.split('\n')) {
      const t = /^Target \d+: (\S+)/.exec(line);
      if (t) {
        iqn = t[1]!;
        map.set(iqn, []);
        continue;
      }
      const b = /Backing store path: (\/\S+)/.exec(line);
      if (b && iqn) map.get(iqn)!.push(b[1]!);
    }
    return map;
  }

  record(key: string, value: unknown): void {
    this.timings[key] = value;
    writeFileSync(join(this.artifacts, 'timings.json'), `${JSON.stringify(this.timings, null, 2)}\n`);
  }

  async close(): Promise<void> {
    this.log('close');
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
    if (this.xfsLoop)
      await sh('umount', [this.xfsLoop.mnt]).catch(() => sh('umount', ['-l', this.xfsLoop!.mnt]));
    rmSync(this.runDir, { recursive: true, force: true });
  }
}
