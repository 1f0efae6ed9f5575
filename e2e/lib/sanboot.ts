import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BootEvent, Machine, Session } from '@ggnet/contracts';
import { E2E_CACHE, MARK, GUEST_FILE, readGuestFile, type BootDisk } from './bootdisk.js';
import { sh, waitFor } from '@ggnet/testkit';

import type { Firmware, Vm } from './qemu.js';
import { E2E_STORAGE_BACKEND, type World } from './world.js';

/** What one VM boot left behind: its console, its session, what the guest saw and wrote. */
export interface Boot {
  name: string;
  firmware: Firmware;
  mac: string;
  vm: Vm;
  machine: Machine;
  session: Session;
  serial: string;
  /** The iBFT as Linux read it (initiator, target, portal, CHAP user). */
  ibft: Record<string, string>;
  /** The portal (host:port) of the session's target as GGnet says (its tgtd's port); null if gone. */
  portal: string | null;
  /** Content of the guest file before this boot wrote it ("none" when absent). */
  seen: string;
  /** The boot id the guest wrote into its file. */
  wrote: string;
  /** Answer of POST /boot/ready as the guest printed it. */
  readyReply: string;
  heartbeats: string[];
  /** Wall time from QEMU start to the guest's marker and to its end. */
  ms: { marker: number; end: number };
}

// A guest that stops here never reaches the marker: fail at once with its console, not at the timeout.
const DEAD_ENDS = new RegExp(
  [MARK.iscsiFailed, 'the network disk could not be booted', 'Kernel panic', 'No bootable device'].join('|'),
);

function field(serial: string, re: RegExp, what: string, name: string): RegExpMatchArray {
  const m = serial.match(re);
  if (!m) throw new Error(`${name}: no ${what} on the console`);
  return m;
}

/**
 * Boots one VM from the network to the end of its /init (it powers off by itself), then collects
 * what the console and GGnet say about that boot.
 */
export async function bootVm(
  w: World,
  o: { name: string; firmware: Firmware; mac: string; hold?: number; timeoutMs?: number },
): Promise<Boot> {
  const vm = w.vm(o.name, o.firmware, o.mac, { hold: o.hold ?? 0 });
  vm.start();
  return finishBoot(w, vm, o);
}

export async function finishBoot(
  w: World,
  vm: Vm,
  o: { name: string; firmware: Firmware; mac: string; timeoutMs?: number },
): Promise<Boot> {
  const timeout = o.timeoutMs ?? 300_000;
  await vm.waitFor(new RegExp(MARK.end), timeout, DEAD_ENDS);
  await vm.waitExit(30_000);
  const serial = vm.serial();
  const ibftLine = field(serial, new RegExp(`${MARK.ibft} (.*)`), 'iBFT line', o.name)[1]!;
  const ibft = Object.fromEntries(
    ibftLine
      .split(' ')
      .map((kv) => kv.split('='))
      .filter((kv) => kv.length === 2) as Array<[string, string]>,
  );
  const seen = field(serial, new RegExp(`${MARK.seen} (.*)`), 'SEEN line', o.name)[1]!.trim();
  const wrote = field(serial, new RegExp(`${MARK.wrote} (boot_id=\\S+)`), 'WROTE line', o.name)[1]!;
  const readyReply = field(serial, new RegExp(`${MARK.ready}(.*)`), 'READY line', o.name)[1]!.trim();
  const heartbeats = [...serial.matchAll(new RegExp(`${MARK.heartbeat} (\\d+ \\S+)`, 'g'))].map((m) => m[1]!);
  const machine = (await w.machineByMac(o.mac))!;
  if (!machine?.sessionId) throw new Error(`${o.name}: machine ${o.mac} has no session`);
  const session = await w.session(machine.sessionId);
  const portal = session.targetId
    ? await w.api
        .get<{ portal: string | null }>(`/api/v1/targets/${session.targetId}`)
        .then((t) => t.portal)
        .catch(() => null)
    : null;
  const boot: Boot = {
    name: o.name,
    firmware: o.firmware,
    mac: o.mac,
    vm,
    machine,
    session,
    serial,
    ibft,
    portal,
    seen,
    wrote,
    readyReply,
    heartbeats,
    ms: { marker: vm.stages.marker ?? -1, end: vm.stages.end ?? -1 },
  };
  w.log(`${o.name}: ${o.firmware} boot done: ${JSON.stringify(boot.ms)} session ${session.id}`);
  return boot;
}

/** Path of a file-backed writeback (reflink/copy backends) in GGnet's data dir. */
export function writebackFile(w: World, writebackId: string): string {
  return E2E_STORAGE_BACKEND === 'qcow2'
    ? join(w.dataDir, 'overlays', `${writebackId}.qcow2`)
    : join(w.dataDir, 'writebacks', `${writebackId}.raw`);
}

/** The file tgtd serves for a writeback: the file itself, or the qcow2 backend's FUSE export of it. */
export function servedFile(w: World, writebackId: string): string {
  return E2E_STORAGE_BACKEND === 'qcow2'
    ? join(w.dataDir, 'exports', `${writebackId}.img`)
    : writebackFile(w, writebackId);
}

/**
 * The guest's file as it lies in a writeback on the host (read-only loop mount of partition 1); a
 * qcow2 overlay is first converted with its master into a raw file (`-U`: the daemon holds it open).
 */
export async function guestFileIn(
  w: World,
  disk: BootDisk,
  file: string,
  guestFile: string = GUEST_FILE,
): Promise<string | null> {
  if (!existsSync(file)) throw new Error(`${file} does not exist`);
  if (!file.endsWith('.qcow2')) return readGuestFile(file, disk.p1, guestFile);
  const raw = join(mkdtempSync(join(E2E_CACHE, 'ov-')), 'disk.raw');
  try {
    await sh('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', file, raw]);
    return await readGuestFile(raw, disk.p1, guestFile);
  } finally {
    rmSync(join(raw, '..'), { recursive: true, force: true });
  }
}

/** Waits until the session's timeline has every phase of a boot, and returns it. */
export async function fullTimeline(w: World, b: Boot): Promise<BootEvent[]> {
  const need = ['dhcp_discover', 'dhcp_offer', 'dhcp_request', 'dhcp_ack', 'script', 'iscsi_login', 'os_up'];
  if (b.firmware === 'uefi') need.push('tftp');
  let last: BootEvent[] = [];
  try {
    return await waitFor(
      `the timeline of ${b.name} (session ${b.session.id}) to have ${need.join(', ')}`,
      async () => {
        last = await w.timeline(b.session.id);
        const kinds = new Set(last.map((e) => e.kind));
        return need.every((k) => kinds.has(k as BootEvent['kind'])) ? last : null;
      },
      15_000,
      500,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\ntimeline: ${JSON.stringify(last.map((x) => [x.at, x.kind]))}`);
  }
}

/** Milliseconds of each phase of a timeline, measured from the first DHCP discover. */
export function phaseTimes(ev: BootEvent[]): Record<string, number> {
  const t0 = Date.parse(ev.find((e) => e.kind === 'dhcp_discover')?.at ?? ev[0]!.at);
  const out: Record<string, number> = {};
  for (const e of ev) {
    const k = e.kind === 'tftp' ? `tftp_${typeof e.detail.file === 'string' ? e.detail.file : '?'}` : e.kind;
    if (out[k] === undefined) out[k] = Date.parse(e.at) - t0;
  }
  return out;
}
