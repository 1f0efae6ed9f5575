import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BootNet } from './netns.js';
import type { Proc, Procs } from '@ggnet/testkit';

export type Firmware = 'bios' | 'uefi';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/**
 * Another iPXE build to boot with (scripts/ipxe-from-trixie.sh unpacks Debian 13's): its
 * undionly.kpxe/snponly.efi are what GGnet serves (GGNET_IPXE_DIR, see world.ts), its qemu/
 * ROMs what the VMs' NICs run. Unset: this machine's ipxe and ipxe-qemu packages.
 */
export const E2E_IPXE_DIR = process.env.GGNET_E2E_IPXE_DIR || null;
const IPXE_ROM_DIR = E2E_IPXE_DIR ? join(E2E_IPXE_DIR, 'qemu') : null;

/** Milestones read from the serial console (first time each pattern appears). */
export const STAGES: Record<Firmware, Array<[string, RegExp]>> = {
  bios: [
    ['ipxe_rom', /iPXE \(PCI/],
    ['dhcp_ok', /net0: \d+\.\d+\.\d+\.\d+\//],
    ['script', /GGnet: /],
    ['sanboot', /Registered SAN device|Booting from SAN device/],
    ['bootloader', /SYSLINUX|EXTLINUX/],
    ['marker', /GGNET-E2E-BOOT-OK/],
    ['iscsi_root', /GGNET-ISCSI-ROOT-OK/],
    ['end', /GGNET-E2E-END/],
  ],
  uefi: [
    ['pxe_start', /Start PXE over IPv4|>>Start PXE/],
    ['nbp', /NBP file downloaded|Downloading NBP/],
    ['ipxe', /iPXE \d+\.\d+/],
    ['dhcp_ok', /net0: \d+\.\d+\.\d+\.\d+\//],
    ['script', /GGnet: /],
    ['sanboot', /Registered SAN device|Booting from SAN device/],
    ['marker', /GGNET-E2E-BOOT-OK/],
    ['iscsi_root', /GGNET-ISCSI-ROOT-OK/],
    ['end', /GGNET-E2E-END/],
  ],
};

/** Serial output with ANSI escapes and carriage returns removed. */
export function cleanSerial(raw: string): string {
  return (
    raw
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-9;?=]*[a-zA-Z]/g, '')
      // eslint-disable-next-line no-control-regex
      .replace(/\x1bc/g, '')
      .replace(/\r/g, '')
      // eslint-disable-next-line no-control-regex
      .replace(/[^\x09\x0a\x20-\x7e]/g, '')
  );
}

export interface VmOptions {
  name: string;
  firmware: Firmware;
  mac: string;
  net: BootNet;
  procs: Procs;
  artifacts: string;
  /** Seconds the guest keeps its disk busy (heartbeats) before powering off. */
  hold?: number;
  /** Port of GGnet's /boot/ready (the guest calls it when it is up). */
  readyPort?: number;
  /** The guest runs GGnet's shipped client agent (ggnet-agent.sh) while it holds its disk. */
  agent?: boolean;
  /** Milestones to time instead of STAGES[firmware] (benchmarks of other boot chains). */
  stages?: Array<[string, RegExp]>;
  /**
   * BIOS only: instead of the NIC's PXE ROM, boot Debian's iPXE (ipxe.lkrn) with this script, as a
   * customer's USB stick would (a static address, a MAC of someone else's in the boot URL, ...).
   */
  ipxeScript?: string;
  /** The serial console also takes input (`type()`): a unix socket next to the log. */
  serialInput?: boolean;
}

/** iPXE as a Linux kernel image (to run a given script); from GGNET_E2E_IPXE_DIR when it has one. */
const IPXE_LKRN =
  E2E_IPXE_DIR && existsSync(join(E2E_IPXE_DIR, 'ipxe.lkrn'))
    ? join(E2E_IPXE_DIR, 'ipxe.lkrn')
    : '/usr/lib/ipxe/ipxe.lkrn';

/**
 * One QEMU VM with no disk that boots from the network (-accel tcg: the host's KVM cannot run guest
 * firmware). BIOS: SeaBIOS + the e1000 iPXE ROM. UEFI: OVMF's own PXE client on virtio-net (ROM off),
 * which loads snponly.efi over TFTP. Serial console to a file; stopped by PID.
 */
export class Vm {
  readonly serialFile: string;
  readonly tap: string;
  private proc: Proc | null = null;
  private t0 = 0;
  readonly stages: Record<string, number> = {};
  private poller: NodeJS.Timeout | null = null;

  constructor(readonly o: VmOptions) {
    this.serialFile = join(o.artifacts, `${o.name}.serial.log`);
    this.tap = o.net.addTap();
  }

  start(): void {
    writeFileSync(this.serialFile, '');
    const args = [
      'qemu-system-x86_64',
      '-accel',
      'tcg',
      '-nodefaults',
      '-nographic',
      '-no-reboot',
      '-monitor',
      'none',
      ...(this.o.serialInput
        ? [
            '-chardev',
            `socket,id=ser0,path=${this.serialSocket},server=on,wait=off,logfile=${this.serialFile}`,
            '-serial',
            'chardev:ser0',
          ]
        : ['-serial', `file:${this.serialFile}`]),
      '-netdev',
      `tap,id=n0,ifname=${this.tap},script=no,downscript=no`,
      '-fw_cfg',
      `name=opt/ggnet/hold,string=${this.o.hold ?? 0}`,
      '-fw_cfg',
      `name=opt/ggnet/port,string=${this.o.readyPort ?? 8080}`,
      ...(this.o.agent ? ['-fw_cfg', 'name=opt/ggnet/agent,string=1'] : []),
    ];
    if (this.o.firmware === 'bios') {
      // the e1000's iPXE option ROM: QEMU's (Debian's ipxe-qemu), or another build's (GGNET_E2E_IPXE_DIR)
      const rom = IPXE_ROM_DIR ? `,romfile=${join(IPXE_ROM_DIR, 'efi-e1000.rom')}` : '';
      args.push('-M', 'pc', '-m', '512', '-device', `e1000,netdev=n0,mac=${this.o.mac}${rom}`);
      if (this.o.ipxeScript !== undefined) {
        const script = join(this.o.artifacts, `${this.o.name}.ipxe`);
        writeFileSync(script, this.o.ipxeScript);
        args.push('-kernel', IPXE_LKRN, '-initrd', script);
      } else {
        args.push('-boot', 'n');
      }
    } else {
      const vars = join(this.o.artifacts, `${this.o.name}.OVMF_VARS.fd`);
      if (!existsSync(vars)) copyFileSync(OVMF_VARS, vars);
      args.push(
        '-M',
        'q35',
        '-m',
        '768',
        '-drive',
        `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
        '-drive',
        `if=pflash,format=raw,file=${vars}`,
        '-device',
        `virtio-net-pci,netdev=n0,mac=${this.o.mac},bootindex=1,romfile=`,
      );
    }
    const [cmd, a] = this.o.net.exec(args);
    this.t0 = Date.now();
    for (const k of Object.keys(this.stages)) delete this.stages[k];
    this.proc = this.o.procs.start(this.o.name, cmd, a, {
      logFile: join(this.o.artifacts, `${this.o.name}.qemu.log`),
    });
    this.poller = setInterval(() => this.scan(), 100);
    this.poller.unref();
  }

  get serialSocket(): string {
    return join(this.o.artifacts, `${this.o.name}.serial.sock`);
  }

  private input: Socket | null = null;

  /**
   * Types on the serial console (serialInput), one character at a time as a person would (the
   * guest's UART holds 16). `\r` is Enter, `\x1b[B` the down arrow.
   */
  async type(text: string, perCharMs = 40): Promise<void> {
    if (!this.input) {
      const sock = connect(this.serialSocket);
      await new Promise<void>((ok, fail) => sock.once('connect', ok).once('error', fail));
      sock.on('data', () => undefined); // the log file has the output
      sock.on('error', () => undefined);
      this.input = sock;
    }
    // an escape sequence goes in one write, so that it is not read as a lone Esc
    // eslint-disable-next-line no-control-regex
    for (const part of text.match(/\x1b\[[A-D]|[\s\S]/g) ?? []) {
      this.input.write(part);
      await sleep(perCharMs);
    }
  }

  /** PID of the QEMU process (e.g. to pause the whole VM with SIGSTOP). */
  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  get startedAt(): number {
    return this.t0;
  }

  private scan(): void {
    const text = this.serial();
    for (const [name, re] of this.o.stages ?? STAGES[this.o.firmware]) {
      if (this.stages[name] === undefined && re.test(text)) this.stages[name] = Date.now() - this.t0;
    }
  }

  serial(): string {
    try {
      return cleanSerial(readFileSync(this.serialFile, 'latin1'));
    } catch {
      return '';
    }
  }

  get running(): boolean {
    return !!this.proc && this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  /** Waits until the serial console matches; fails early when QEMU exits or a dead end shows up. */
  async waitFor(re: RegExp, timeoutMs: number, failOn?: RegExp): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const text = this.serial();
      const m = text.match(re);
      if (m) return m;
      if (failOn?.test(text))
        throw new Error(`${this.o.name}: ${failOn} on the console before ${re}\n${this.tail()}`);
      if (!this.running && this.proc) {
        const again = this.serial().match(re);
        if (again) return again;
        throw new Error(`${this.o.name}: QEMU exited before ${re}\n${this.tail()}`);
      }
      if (Date.now() > until)
        throw new Error(`${this.o.name}: no ${re} within ${timeoutMs} ms\n${this.tail()}`);
      await sleep(100);
    }
  }

  /** Waits for QEMU to exit by itself (the guest powers off). */
  async waitExit(timeoutMs: number): Promise<void> {
    if (!this.proc) return;
    const r = await Promise.race([this.proc.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!r) throw new Error(`${this.o.name}: still running after ${timeoutMs} ms\n${this.tail()}`);
    this.scan();
    this.stopPolling();
  }

  tail(lines = 40): string {
    return this.serial()
      .split('\n')
      .filter((l) => l.trim())
      .slice(-lines)
      .join('\n');
  }

  private stopPolling() {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
  }

  async stop(): Promise<void> {
    this.scan();
    this.stopPolling();
    this.input?.destroy();
    this.input = null;
    await this.proc?.stop(2000);
  }
}
