/**
 * Real VM boot time, power-on (QEMU start) -> the guest's boot marker on its serial console, under TCG,
 * BIOS (SeaBIOS + QEMU's iPXE ROM) and UEFI (OVMF PXE -> TFTP snponly.efi -> iPXE), p50 over N boots:
 *   GGnet: `ggnet serve` in a network namespace with dhcp.mode=dhcp (its dnsmasq, its tgtd, reflink
 *          storage on XFS), the e2e boot disk uploaded as VHDX, one registered machine per firmware;
 *          every boot is a fresh session (writeback + target + CHAP). Per-phase split from GGnet's own
 *          timeline (GET /api/v1/sessions/{id}/timeline): DHCP, TFTP, script, iSCSI login, OS up.
 *   hand:  the hand-configured chain of the netboot lab (06-pxe-bios.sh / 07-pxe-uefi.sh), rebuilt
 *          here, not called: its own namespace, dnsmasq with the lab's tuned configuration, a static
 *          HTTP server with a fixed sanboot script, tgtd with one target (LUN 1 = the same disk).
 * Same VM definition (e2e/lib/qemu.ts), same disk, boots alternated (hand, GGnet, GGnet, hand, ...)
 * so that the load of this shared machine hits both alike.
 *
 *   npm run bench:boot-vm -- [--boots 5] [--firmware bios,uefi]      (as root; builds the boot disk once)
 *
 * Network: only the namespaces made here. Cleanup (VMs, dnsmasq, tgtd, HTTP by PID, namespaces, loop
 * mount, temp dirs) also on Ctrl-C.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { BootEvent, Machine } from '@ggnet/contracts';
import { buildBootDisk, E2E_CACHE, MARK } from '../e2e/lib/bootdisk.js';
import { BootNet, bootTestsUnavailable } from '../e2e/lib/netns.js';
import { Procs, sh, waitFor } from '@ggnet/testkit';
import { Vm, type Firmware } from '../e2e/lib/qemu.js';
import { World } from '../e2e/lib/world.js';
import { table } from './iscsi-lib.js';

const { values } = parseArgs({
  options: {
    boots: { type: 'string', default: '5' },
    firmware: { type: 'string', default: 'bios,uefi' },
  },
});
const BOOTS = Number(values.boots);
const FIRMWARES = values.firmware.split(',') as Firmware[];
if (!Number.isInteger(BOOTS) || BOOTS < 1) throw new Error('--boots must be a positive integer');
if (!FIRMWARES.every((f) => f === 'bios' || f === 'uefi')) throw new Error('--firmware: bios,uefi');
const unavailable = bootTestsUnavailable();
if (unavailable) throw new Error(`cannot boot VMs here: ${unavailable}`);

/** Serial milestones timed for both chains (the first line of each script is chain-specific). */
const STAGES: Record<Firmware, Array<[string, RegExp]>> = {
  bios: [
    ['ipxe', /iPXE \(PCI/],
    ['dhcp', /net0: \d+\.\d+\.\d+\.\d+\//],
    ['script', /GGnet: |HAND-SCRIPT/],
    ['sanboot', /Registered SAN device|Booting from SAN device/],
    ['marker', new RegExp(MARK.boot)],
    ['linux_iscsi', new RegExp(MARK.iscsiRoot)],
    ['end', new RegExp(MARK.end)],
  ],
  uefi: [
    ['pxe', /Start PXE over IPv4|>>Start PXE/],
    ['ipxe', /iPXE 1\.0/],
    ['dhcp', /net0: \d+\.\d+\.\d+\.\d+\//],
    ['script', /GGnet: |HAND-SCRIPT/],
    ['sanboot', /Registered SAN device|Booting from SAN device/],
    ['marker', new RegExp(MARK.boot)],
    ['linux_iscsi', new RegExp(MARK.iscsiRoot)],
    ['end', new RegExp(MARK.end)],
  ],
};
const FAIL = /No bootable device|could not be booted|HAND-SANBOOT-FAILED|Nothing to boot|No bootable option/;

const HAND_TARGET = 'iqn.2024-01.lab.test:bootdisk';
const HAND_INITIATOR = 'iqn.2024-01.lab.test:pxeclient1';

/**
 * The lab's hand-configured chain (pxe-env.sh of 06/07, DHCP mode): dnsmasq with no-ping, IPv6 RA,
 * iPXE no-pxedhcp, BIOS/UEFI/iPXE boot files; python's http.server with boot.ipxe; tgtd, LUN 1 = disk.
 */
class HandChain {
  readonly net = new BootNet();
  readonly procs = new Procs();
  readonly dir: string;
  readonly controlPort = 20000 + Math.floor(Math.random() * 12000);

  constructor(readonly artifacts: string) {
    mkdirSync(E2E_CACHE, { recursive: true });
    this.dir = mkdtempSync(join(E2E_CACHE, 'hand-'));
    chmodSync(this.dir, 0o755);
  }

  async start(diskRaw: string): Promise<void> {
    const d = this.dir;
    for (const sub of ['tftp', 'http']) mkdirSync(join(d, sub), { mode: 0o755 });
    for (const f of ['undionly.kpxe', 'snponly.efi']) copyFileSync(`/usr/lib/ipxe/${f}`, join(d, 'tftp', f));
    const ip = this.net.addr;
    writeFileSync(
      join(d, 'dnsmasq.conf'),
      [
        'port=0',
        `interface=${this.net.bridge}`,
        'bind-interfaces',
        'no-resolv',
        'no-hosts',
        'user=root',
        `pid-file=${d}/dnsmasq.pid`,
        `dhcp-leasefile=${d}/dnsmasq.leases`,
        'log-dhcp',
        'dhcp-option=option:router',
        'no-ping',
        'enable-tftp',
        `tftp-root=${d}/tftp`,
        'dhcp-userclass=set:ipxe,iPXE',
        'dhcp-match=set:ipxe,175',
        'dhcp-option=tag:ipxe,encap:175,176,1b',
        'dhcp-match=set:efi64,option:client-arch,7',
        'dhcp-match=set:efi64,option:client-arch,9',
        'enable-ra',
        `dhcp-range=::,constructor:${this.net.bridge},ra-only`,
        `ra-param=${this.net.bridge},10,0`,
        'dhcp-authoritative',
        'dhcp-range=10.99.0.100,10.99.0.199,255.255.255.0,10m',
        `dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe,,${ip}`,
        `dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi,,${ip}`,
        `dhcp-boot=tag:ipxe,http://${ip}:8080/boot.ipxe`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(d, 'http', 'boot.ipxe'),
      [
        '#!ipxe',
        'echo HAND-SCRIPT platform=${platform} buildarch=${buildarch} ip=${ip}',
        `set initiator-iqn ${HAND_INITIATOR}`,
        `sanboot iscsi:${ip}::3260:1:${HAND_TARGET} || goto failed`,
        ':failed',
        'echo HAND-SANBOOT-FAILED errno=${errno}',
        'exit 1',
        '',
      ].join('\n'),
    );
    // the LUN: a copy of the same disk GGnet got as VHDX (the lab copies it, reflink when it can)
    const lun = join(d, 'lun1.raw');
    await sh('cp', ['--reflink=auto', diskRaw, lun]);

    this.net.up();
    const start = (name: string, args: string[]) => {
      const [cmd, a] = this.net.exec(args);
      return this.procs.start(name, cmd, a, { logFile: join(this.artifacts, `hand-${name}.log`) });
    };
    start('dnsmasq', ['dnsmasq', '-k', '--log-facility=-', `--conf-file=${d}/dnsmasq.conf`]);
    start('http', ['python3', '-m', 'http.server', '8080', '--bind', ip, '--directory', join(d, 'http')]);
    start('tgtd', ['tgtd', '-f', '-C', String(this.controlPort), '--iscsi', `portal=${ip}:3260`]);
    const T = (...args: string[]) =>
      sh('tgtadm', ['-C', String(this.controlPort), '--lld', 'iscsi', ...args]);
    await waitFor('hand tgtd', () => T('--op', 'show', '--mode', 'sys').then(() => true), 10_000, 100);
    await T('--op', 'new', '--mode', 'target', '--tid', '1', '--targetname', HAND_TARGET);
    await T('--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '--backing-store', lun);
    await T('--op', 'bind', '--mode', 'target', '--tid', '1', '--initiator-name', HAND_INITIATOR);
    const listening = async (port: number, proto: 'u' | 't') => {
      const [cmd, a] = this.net.exec(['ss', `-Hl${proto}n`, `sport = :${port}`]);
      return (await sh(cmd, a)).trim().length > 0;
    };
    await waitFor('hand dnsmasq (TFTP)', () => listening(69, 'u'), 10_000, 100);
    await waitFor('hand HTTP', () => listening(8080, 't'), 10_000, 100);
    await waitFor('hand portal', () => listening(3260, 't'), 10_000, 100);
  }

  async close(): Promise<void> {
    await this.procs.stopAll();
    this.net.down(); // tgtd ignores SIGTERM; it goes with the namespace (SIGKILL by PID)
    for (const f of ['', '.lock']) rmSync(`/var/run/tgtd/socket.${this.controlPort}${f}`, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Boot {
  chain: 'hand' | 'ggnet';
  firmware: Firmware;
  stages: Record<string, number>;
  /** GGnet only: timeline events, ms since power-on. */
  phases?: Record<string, number>;
}

const p50 = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sec = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '-' : (ms / 1000).toFixed(2));

/** GGnet's timeline of one boot as points in time since power-on. */
function timelinePhases(ev: BootEvent[], t0: number): Record<string, number> {
  const at = (e: BootEvent | undefined) => (e ? Date.parse(e.at) - t0 : undefined);
  const script = ev.find((e) => e.kind === 'script');
  const beforeScript = script ? ev.slice(0, ev.indexOf(script)) : ev;
  const acks = beforeScript.filter((e) => e.kind === 'dhcp_ack');
  const tftp = beforeScript.filter((e) => e.kind === 'tftp' && e.detail.ok === true);
  const out: Record<string, number | undefined> = {
    dhcp_discover: at(ev.find((e) => e.kind === 'dhcp_discover')),
    dhcp_ack_firmware: at(acks.find((e) => e.detail.ipxe !== true)),
    tftp_done: at(tftp.at(-1)),
    dhcp_ack_ipxe: at(acks.filter((e) => e.detail.ipxe === true).at(-1)),
    script: at(script),
    iscsi_login: at(ev.find((e) => e.kind === 'iscsi_login')),
    os_up: at(ev.find((e) => e.kind === 'os_up')),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Record<string, number>;
}

async function main() {
  const disk = await buildBootDisk((l) => process.stdout.write(`${l}\n`));
  const w = new World({
    name: 'bench-boot-vm',
    xfs: true,
    env: {
      GGNET_DHCP_MODE: 'dhcp',
      GGNET_DHCP_RANGE: '10.99.0.100,10.99.0.199',
      GGNET_LOG_LEVEL: 'warn',
      GGNET_STORAGE_RESERVE: '0',
    },
  });
  const hand = new HandChain(w.artifacts);
  const vms: Vm[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const vm of vms) await vm.stop().catch(() => undefined);
    await hand.close().catch((e: unknown) => console.error(e));
    await w.close().catch((e: unknown) => console.error(e));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: cleaning up...\n`);
    void close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await w.start();
    await hand.start(disk.raw);
    const { image } = await w.uploadImage('bench-disk', disk.vhdx);
    const macs: Record<Firmware, string> = { bios: '52:54:00:be:00:01', uefi: '52:54:00:be:00:02' };
    const machines: Partial<Record<Firmware, Machine>> = {};
    for (const fw of FIRMWARES)
      machines[fw] = await w.api.post<Machine>('/api/v1/machines', {
        name: `bench-${fw}`,
        mac: macs[fw],
        bootImageId: image.id,
      });
    process.stdout.write(`GGnet up in ${w.net.ns}, hand chain in ${hand.net.ns}; boot disk ${disk.raw}\n`);

    const boots: Boot[] = [];
    const handMacs: Record<Firmware, string> = { bios: '52:54:00:99:00:10', uefi: '52:54:00:99:00:11' };
    const boot = async (chain: 'hand' | 'ggnet', fw: Firmware, i: number): Promise<Boot> => {
      const net = chain === 'hand' ? hand.net : w.net;
      const procs = chain === 'hand' ? hand.procs : w.procs;
      const vm = new Vm({
        name: `${chain}-${fw}-${i}`,
        firmware: fw,
        mac: chain === 'hand' ? handMacs[fw] : macs[fw],
        net,
        procs,
        artifacts: w.artifacts,
        stages: STAGES[fw],
      });
      vms.push(vm);
      vm.start();
      await vm.waitFor(new RegExp(MARK.end), 300_000, FAIL);
      await vm.waitExit(30_000).catch(() => undefined);
      await vm.stop();
      const b: Boot = { chain, firmware: fw, stages: { ...vm.stages } };
      if (chain === 'ggnet') {
        const ev = await w.events(macs[fw]);
        const script = ev.filter((e) => e.kind === 'script' && e.sessionId).at(-1);
        if (!script?.sessionId) throw new Error(`${vm.o.name}: no session in GGnet's boot events`);
        const tl = await waitFor(
          'the OS-up event',
          async () => {
            const t = await w.timeline(script.sessionId!);
            return t.some((e) => e.kind === 'os_up') ? t : null;
          },
          10_000,
          300,
        ).catch(() => w.timeline(script.sessionId!));
        b.phases = timelinePhases(tl, vm.startedAt);
      }
      process.stdout.write(
        `  ${chain.padEnd(5)} ${fw} #${i}: marker ${sec(b.stages.marker)} s` +
          `${
            b.phases
              ? `  (timeline: ${Object.entries(b.phases)
                  .map(([k, v]) => `${k} ${sec(v)}`)
                  .join(', ')})`
              : ''
          }` +
          `  load ${loadavg()[0]!.toFixed(1)}\n`,
      );
      return b;
    };

    const load0 = loadavg();
    for (let i = 1; i <= BOOTS; i++) {
      for (const fw of FIRMWARES) {
        // alternate who goes first, so that a change of load hits both alike
        const order: Array<'hand' | 'ggnet'> = i % 2 ? ['hand', 'ggnet'] : ['ggnet', 'hand'];
        for (const chain of order) boots.push(await boot(chain, fw, i));
      }
    }
    const load1 = loadavg();

    // ---- report
    process.stdout.write(
      `\nVM boot, QEMU start -> ${MARK.boot} on the serial console (TCG), p50 of ${BOOTS} boots per row\n`,
    );
    process.stdout.write(
      `load average (1/5/15 min) ${load0.map((x) => x.toFixed(1)).join('/')} -> ${load1.map((x) => x.toFixed(1)).join('/')} on ${cpus().length} CPUs\n\n`,
    );
    const rows: Array<Record<string, string | number>> = [];
    const serialCols = ['ipxe', 'pxe', 'dhcp', 'script', 'sanboot', 'marker', 'linux_iscsi'];
    for (const fw of FIRMWARES) {
      for (const chain of ['hand', 'ggnet'] as const) {
        const bs = boots.filter((b) => b.chain === chain && b.firmware === fw);
        const row: Record<string, string | number> = {
          firmware: fw,
          chain: chain === 'hand' ? 'hand (lab 06/07)' : 'GGnet',
        };
        for (const c of serialCols) {
          if (fw === 'bios' && c === 'pxe') continue;
          row[c === 'marker' ? 'MARKER p50 s' : `${c} s`] = sec(
            p50(bs.map((b) => b.stages[c] ?? Number.NaN)),
          );
        }
        row['marker min-max s'] =
          `${sec(Math.min(...bs.map((b) => b.stages.marker ?? Infinity)))}-${sec(Math.max(...bs.map((b) => b.stages.marker ?? -Infinity)))}`;
        rows.push(row);
      }
    }
    process.stdout.write('serial milestones, seconds since power-on (p50):\n');
    for (const fw of FIRMWARES) process.stdout.write(`${table(rows.filter((r) => r.firmware === fw))}\n\n`);

    const tlRows: Array<Record<string, string | number>> = [];
    for (const fw of FIRMWARES) {
      const bs = boots.filter((b) => b.chain === 'ggnet' && b.firmware === fw);
      const k = (name: string) => p50(bs.map((b) => b.phases?.[name] ?? Number.NaN));
      const pts = [
        'dhcp_discover',
        'dhcp_ack_firmware',
        'tftp_done',
        'dhcp_ack_ipxe',
        'script',
        'iscsi_login',
        'os_up',
      ];
      const row: Record<string, string | number> = { firmware: fw };
      for (const p of pts) row[`${p} s`] = sec(k(p));
      tlRows.push(row);
    }
    process.stdout.write(
      "GGnet's timeline (GET /api/v1/sessions/{id}/timeline), seconds since power-on (p50):\n",
    );
    process.stdout.write(`${table(tlRows)}\n\n`);

    for (const fw of FIRMWARES) {
      const h = p50(
        boots.filter((b) => b.chain === 'hand' && b.firmware === fw).map((b) => b.stages.marker!),
      );
      const g = p50(
        boots.filter((b) => b.chain === 'ggnet' && b.firmware === fw).map((b) => b.stages.marker!),
      );
      const r = g / h;
      process.stdout.write(
        `${fw}: GGnet ${sec(g)} s / hand ${sec(h)} s = ${r.toFixed(2)}x (goal <= 1.10x: ${r <= 1.1 ? 'met' : 'NOT met'})\n`,
      );
    }
    process.stdout.write(`serial logs: ${w.artifacts}\n`);
  } finally {
    await close();
  }
}

main()
  .then(() => process.exit(process.exitCode ?? 0))
  .catch(async (err) => {
    console.error(err);
    await sleep(10);
    process.exit(1);
  });
