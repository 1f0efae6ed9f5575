import type { WakeRequest, WakeResult, WakeSkip } from '@ggnet/contracts';
import type { Logger } from 'pino';
import { broadcastOf, type WakeDestination, type WakeOnLan } from '../../adapters/wol/wol.adapter.js';
import { conflict, notFound } from '../../errors/app-error.js';
import type { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { PowerRepository, WakeMachineRow } from './power.repository.js';
import { WakeQueue } from './wake-queue.js';

export interface WakeServiceDeps {
  repo: PowerRepository;
  wol: WakeOnLan;
  settings: SettingsService;
  recorder: BootEventRecorder;
  log: Logger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Who asked for a wake: a user (audited by the route) or a schedule (audited when it fires). */
export interface WakeBy {
  by: string;
  scheduleId?: string | null;
}

/** Enabled, approved machines to wake, and the others as skipped (for "all" and a group). */
function splitWakeable(rows: WakeMachineRow[]): [WakeMachineRow[], WakeSkip[]] {
  const skipped: WakeSkip[] = [];
  const ok: WakeMachineRow[] = [];
  for (const m of rows) {
    if (m.pending) skipped.push({ machineId: m.id, reason: 'pending' });
    else if (!m.enabled) skipped.push({ machineId: m.id, reason: 'disabled' });
    else ok.push(m);
  }
  return [ok, skipped];
}

/**
 * Wake-on-LAN of machines: takes a list of machines (one, a selection, all; a group is one more
 * caller), finds the boot network's broadcast address and the boot interface's address, and queues
 * one magic packet per machine on the paced queue. Each packet sent is a `wake_sent` boot event in
 * the machine's timeline; the PC's DHCP and boot events follow there as for any boot.
 */
export class WakeService {
  readonly queue: WakeQueue;

  constructor(private readonly deps: WakeServiceDeps) {
    this.queue = new WakeQueue({
      wol: deps.wol,
      log: deps.log,
      now: deps.now,
      sleep: deps.sleep,
      onSent: async (item, at) => {
        await deps.recorder.record({
          at: new Date(at).toISOString(),
          mac: item.mac,
          machineId: item.machineId,
          sessionId: null,
          kind: 'wake_sent',
          detail: {
            by: item.by,
            broadcast: item.dest.broadcast,
            port: item.dest.port,
            ...(item.scheduleId ? { scheduleId: item.scheduleId } : {}),
          },
        });
      },
    });
  }

  /**
   * Where magic packets go: power.wolBroadcast, else the broadcast of dhcp.iface's subnet (sent from
   * that interface's address), else of network.bootAddr with dhcp.netmask.
   */
  async destination(): Promise<WakeDestination> {
    const s = await this.deps.settings.get();
    const port = s.power.wolPort;
    const iface = s.dhcp.iface;
    const ifAddr = iface ? this.deps.wol.interfaceAddress(iface) : null;
    if (iface && !ifAddr && !s.power.wolBroadcast) {
      throw conflict(
        'boot_interface_down',
        `the boot interface ${iface} (dhcp.iface) has no IPv4 address, so GGnet does not know where to send magic packets`,
        `bring ${iface} up with its address, or set power.wolBroadcast`,
      );
    }
    const source = ifAddr?.address ?? s.network.bootAddr ?? null;
    if (s.power.wolBroadcast) return { broadcast: s.power.wolBroadcast, port, sourceAddress: source };
    if (ifAddr)
      return { broadcast: broadcastOf(ifAddr.address, ifAddr.netmask), port, sourceAddress: source };
    if (s.network.bootAddr) {
      return { broadcast: broadcastOf(s.network.bootAddr, s.dhcp.netmask), port, sourceAddress: source };
    }
    throw conflict(
      'no_boot_network',
      'GGnet does not know the boot network to send magic packets to',
      'set the boot interface (dhcp.iface) or network.bootAddr in Settings, or power.wolBroadcast',
    );
  }

  /** One machine (POST /machines/{id}/wake): 404 if unknown, 409 if still pending approval. */
  async wakeOne(id: string, by: WakeBy): Promise<WakeResult> {
    const [m] = await this.deps.repo.machinesByIds([id]);
    if (!m) throw notFound('machine', id);
    if (m.pending) {
      throw conflict(
        'machine_pending',
        'this machine waits for approval; GGnet does not wake machines it has not approved',
        'approve it on the machines page first',
      );
    }
    return this.send([m], [], by);
  }

  /** A selection or all machines (all: every enabled, approved one; the others are listed as skipped). */
  async wake(req: WakeRequest, by: WakeBy): Promise<WakeResult> {
    if ('all' in req) return this.send(...splitWakeable(await this.deps.repo.allMachines()), by);
    return this.wakeMachines(req.machineIds, by);
  }

  /** The members of a group (POST /groups/{id}/wake): 404 if unknown; disabled and pending ones skipped. */
  async wakeGroup(groupId: string, by: WakeBy): Promise<WakeResult> {
    const rows = await this.deps.repo.machinesInGroup(groupId);
    if (!rows) throw notFound('group', groupId);
    return this.send(...splitWakeable(rows), by);
  }

  /** The machines of a list (a selection): pending and unknown ones are skipped. */
  async wakeMachines(ids: string[], by: WakeBy): Promise<WakeResult> {
    const unique = [...new Set(ids)];
    const rows = await this.deps.repo.machinesByIds(unique);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const skipped: WakeSkip[] = [];
    const ok: WakeMachineRow[] = [];
    for (const id of unique) {
      const m = byId.get(id);
      if (!m) skipped.push({ machineId: id, reason: 'not_found' });
      else if (m.pending) skipped.push({ machineId: id, reason: 'pending' });
      else ok.push(m);
    }
    return this.send(ok, skipped, by);
  }

  private async send(machines: WakeMachineRow[], skipped: WakeSkip[], by: WakeBy): Promise<WakeResult> {
    const dest = await this.destination();
    const pps = (await this.deps.settings.get()).power.packetsPerSecond;
    const intervalMs = 1000 / pps;
    const { queued, etaMs } = this.queue.push(
      machines.map((m) => ({
        machineId: m.id,
        mac: m.mac,
        dest,
        intervalMs,
        by: by.by,
        scheduleId: by.scheduleId ?? null,
      })),
    );
    this.deps.log.info(
      { queued, skipped: skipped.length, broadcast: dest.broadcast, port: dest.port, by: by.by },
      'Wake-on-LAN queued',
    );
    return {
      queued,
      skipped,
      broadcast: dest.broadcast,
      port: dest.port,
      sourceAddress: dest.sourceAddress,
      etaSec: Math.round(etaMs) / 1000,
    };
  }
}
