import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ConsoleStart, ConsoleVm } from '@ggnet/contracts';
import { conflict, notFound, unavailable, unprocessable } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { KeyedMutex } from '../../lib/keyed-mutex.js';
import type { QemuVms } from '../../adapters/qemu/qemu-vm.adapter.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { MachinesRepository } from '../machines/machines.repository.js';
import type { MachinesService } from '../machines/machines.service.js';
import type { MediaService } from '../media/media.service.js';
import type { SessionOrchestrator } from '../sessions/session-orchestrator.js';
import type { SettingsService } from '../settings/settings.service.js';
import { toConsoleVm, type ConsoleRepository, type ConsoleVmRow } from './console.repository.js';

export interface ConsoleDeps {
  repo: ConsoleRepository;
  images: ImagesRepository;
  machines: MachinesService;
  machinesRepo: MachinesRepository;
  media: MediaService;
  files: ImageFiles;
  orchestrator: SessionOrchestrator;
  settings: SettingsService;
  vms: QemuVms;
  bus: EventBus;
  log: Logger;
}

/** The console machine of an image: a stable name and a locally administered MAC from its id. */
export function consoleMachineIdentity(imageId: string): { name: string; mac: string } {
  const h = createHash('sha256').update(imageId).digest('hex');
  return {
    name: `console-${imageId.replace(/-/g, '').slice(0, 8)}`,
    mac: `52:54:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`,
  };
}

/**
 * The console VM of an image (issue 15 point 3): a QEMU VM on the server running on the image's
 * maintenance disk. It is a maintenance session of the image's console machine, started by the same
 * orchestrator as a physical PC's and attached the same way, over iSCSI to GGnet's own tgtd with the
 * session's CHAP: so the session monitor sees its logins, apply refuses while it is logged in
 * (`session_connected`), apply moves the kept writeback into a version and discard drops it, exactly
 * as for a PC, and the sessions page lists it. The console machine is disabled for network boots, so
 * no PC on the LAN can boot as it (whatever MAC it claims).
 */
export class ConsoleService {
  private readonly locks = new KeyedMutex();

  constructor(private readonly d: ConsoleDeps) {
    d.vms.onExit((id, info) => void this.exited(id, info.code));
  }

  async get(imageId: string): Promise<ConsoleVm> {
    const row = await this.d.repo.find(imageId);
    if (!row) throw notFound('console VM', imageId);
    return toConsoleVm(row);
  }

  private async consoleMachine(imageId: string, existing: ConsoleVmRow | undefined): Promise<string> {
    if (existing) return existing.machine_id;
    const img = await this.d.images.findRow(imageId);
    const { name, mac } = consoleMachineIdentity(imageId);
    const m = await this.d.machines.create({
      name,
      mac,
      enabled: false,
      bootImageId: imageId,
      bootMode: 'maintenance',
      description: `Console VM of image ${img?.name ?? imageId} (made by GGnet; disabled for network boots)`,
    });
    return m.id;
  }

  /** POST /images/{id}/console: starts the VM on the image's maintenance disk (one per image). */
  start(imageId: string, body: ConsoleStart): Promise<ConsoleVm> {
    return this.locks.run(imageId, async () => {
      const img = await this.d.images.findRow(imageId);
      if (!img) throw notFound('image', imageId);
      const existing = await this.d.repo.find(imageId);
      if (existing?.state === 'running') await this.adoptEarly(imageId);
      if (existing?.state === 'running' && this.d.vms.isRunning(imageId))
        throw conflict(
          'console_running',
          `the console VM of image ${img.name} is already running`,
          'open its console, or power it off first (DELETE /api/v1/images/{id}/console): one console VM per image',
        );
      const s = (await this.d.settings.get()).console;
      const memoryMiB = body.memoryMiB ?? s.memoryMiB;
      const cpus = body.cpus ?? s.cpus;
      if (memoryMiB > s.maxMemoryMiB)
        throw unprocessable(
          'console_limit',
          `${memoryMiB} MiB of memory is over the limit of ${s.maxMemoryMiB} MiB`,
          'ask for less, or raise console.maxMemoryMiB in the settings',
        );
      if (cpus > s.maxCpus)
        throw unprocessable(
          'console_limit',
          `${cpus} CPUs is over the limit of ${s.maxCpus}`,
          'ask for fewer, or raise console.maxCpus in the settings',
        );
      const mediaId = body.mediaId ?? null;
      if (mediaId) await this.d.media.get(mediaId);
      const cdrom = mediaId ? this.d.files.inside(this.d.files.mediaRelPath(mediaId)) : null;

      const machineId = await this.consoleMachine(imageId, existing);
      // the medium counts as in use by the console machine while the VM runs (it cannot be deleted)
      await this.d.machinesRepo.update(machineId, { install_media_id: mediaId, updated_at: nowIso() });
      // the same maintenance session a PC gets: its kept writeback continues, a PC in maintenance on
      // this image refuses it (maintenance_in_progress)
      const info = await this.d.orchestrator.startSession({
        machineId,
        mode: 'maintenance',
        clientIp: null,
        console: true,
      });
      const accel = s.accel === 'auto' ? await this.d.vms.detectAccel() : s.accel;
      const lun = info.luns[0]!;
      let pid: number;
      try {
        pid = await this.d.vms.start({
          id: imageId,
          accel,
          memoryMiB,
          cpus,
          disk: {
            portalHost: info.portalHost,
            portalPort: info.portalPort,
            targetIqn: info.targetIqn,
            lun: lun.lun,
            initiatorIqn: info.initiatorIqn,
            chapUser: info.chap.username,
            chapSecret: info.chap.password,
          },
          cdrom,
          network: s.network,
        });
      } catch (err) {
        const msg = (err as Error).message;
        this.d.log.error({ err, image: imageId }, 'console VM did not start');
        // a maintenance session that ends in an error keeps its disk: nothing done so far is lost
        await this.d.orchestrator.endSession(info.sessionId, 'error', { error: msg }).catch(() => undefined);
        await this.d.machinesRepo.update(machineId, { install_media_id: null }).catch(() => undefined);
        throw unavailable(
          'console_start_failed',
          `the console VM did not start: ${msg.slice(0, 500)}`,
          `see <data dir>/logs/console-${imageId}.log`,
        );
      }
      const now = nowIso();
      const row: ConsoleVmRow = {
        image_id: imageId,
        machine_id: machineId,
        session_id: info.sessionId,
        state: 'running',
        pid,
        accel,
        memory_mib: memoryMiB,
        cpus,
        media_id: mediaId,
        error: null,
        started_at: now,
        stopped_at: null,
        updated_at: now,
      };
      if (existing) await this.d.repo.update(imageId, row);
      else await this.d.repo.insert(row);
      const vm = toConsoleVm(row);
      this.d.bus.publish('console.started', imageId, vm);
      return vm;
    });
  }

  /**
   * A request can come before the start-up's adoptAll() has run (the API listens first): a VM the
   * database says runs is adopted here and then, never started a second time or refused.
   */
  private async adoptEarly(imageId: string): Promise<void> {
    if (!this.d.vms.isRunning(imageId)) await this.d.vms.adopt(imageId);
  }

  private async runningRow(imageId: string): Promise<ConsoleVmRow> {
    const row = await this.d.repo.find(imageId);
    if (row?.state === 'running') await this.adoptEarly(imageId);
    if (!row || row.state !== 'running' || !this.d.vms.isRunning(imageId))
      throw conflict('console_not_running', 'the console VM of this image is not running', 'start it first');
    return row;
  }

  /** DELETE /images/{id}/console: power off (the session stays, with its disk, for apply or discard). */
  stop(imageId: string): Promise<ConsoleVm> {
    return this.locks.run(imageId, async () => {
      await this.runningRow(imageId);
      await this.d.vms.powerOff(imageId);
      await this.exited(imageId, null);
      return this.get(imageId);
    });
  }

  /** POST /images/{id}/console/shutdown: the ACPI power button; the guest shuts itself down. */
  async shutdown(imageId: string): Promise<ConsoleVm> {
    const row = await this.runningRow(imageId);
    await this.d.vms.shutdown(imageId);
    return toConsoleVm(row);
  }

  /** The VM's VNC socket for the WebSocket proxy; only while it runs. */
  async vncSocket(imageId: string): Promise<string> {
    await this.runningRow(imageId);
    return this.d.vms.vncSocket(imageId);
  }

  /** The QEMU process ended (guest power-off, power off, crash): the row says so, once. */
  private async exited(imageId: string, code: number | null): Promise<void> {
    try {
      const n = await this.d.repo.update(
        imageId,
        {
          state: code === null || code === 0 ? 'stopped' : 'failed',
          pid: null,
          error: code === null || code === 0 ? null : `QEMU exited with code ${code}`,
          stopped_at: nowIso(),
          updated_at: nowIso(),
        },
        'running',
      );
      if (!n) return;
      const row = await this.d.repo.find(imageId);
      if (row) await this.d.machinesRepo.update(row.machine_id, { install_media_id: null });
      this.d.bus.publish('console.stopped', imageId, row ? toConsoleVm(row) : null);
    } catch (err) {
      this.d.log.error({ err, image: imageId }, 'could not record the console VM stop');
    }
  }

  /** At start: adopt the VMs a previous GGnet left running; rows of VMs that are gone are stopped. */
  async adoptAll(): Promise<void> {
    for (const row of await this.d.repo.running()) {
      const pid = await this.d.vms.adopt(row.image_id);
      if (pid) {
        await this.d.repo.update(row.image_id, { pid, updated_at: nowIso() });
        continue;
      }
      await this.d.repo.update(row.image_id, {
        state: 'stopped',
        pid: null,
        error: 'the VM was not running any more when GGnet started',
        stopped_at: nowIso(),
        updated_at: nowIso(),
      });
      await this.d.machinesRepo.update(row.machine_id, { install_media_id: null });
    }
  }

  /**
   * GGnet shuts down: the VMs keep running for the next GGnet to adopt (a restart keeps them, as
   * tgtd keeps booted clients), unless `console.stopOnShutdown`: then each gets the ACPI power button
   * and is powered off after `console.shutdownTimeoutSec`.
   */
  async close(): Promise<void> {
    const s = (await this.d.settings.get()).console;
    if (s.stopOnShutdown) {
      const rows = (await this.d.repo.running()).filter((r) => this.d.vms.isRunning(r.image_id));
      await Promise.all(
        rows.map(async (r) => {
          await this.d.vms.shutdown(r.image_id).catch(() => undefined);
          const until = Date.now() + s.shutdownTimeoutSec * 1000;
          while (Date.now() < until && this.d.vms.isRunning(r.image_id)) await sleep(200);
          if (this.d.vms.isRunning(r.image_id)) await this.d.vms.powerOff(r.image_id);
          await this.exited(r.image_id, null);
        }),
      );
    }
    await this.d.vms.close();
  }
}
