import { join } from 'node:path';
import type { Logger } from 'pino';
import { formatBytes, type FieldError, type Settings, type StorageBackend } from '@ggnet/contracts';
import { insufficientStorage, unavailable } from '../../errors/app-error.js';
import type { ProcessRunner } from '../../adapters/process/process-runner.adapter.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import {
  COPY_BACKEND_WARNING,
  FileWritebackStorage,
  reflinkWorks,
  type WritebackStorage,
} from '../../adapters/storage/storage.adapter.js';
import { ZfsWritebackStorage } from '../../adapters/storage/zfs.adapter.js';
import { OverlayWritebackStorage, QSD_DIRECT_MIN_MAJOR } from '../../adapters/storage/overlay.adapter.js';
import type { QemuStorageDaemon } from '../../adapters/qsd/qsd.adapter.js';
import type { SettingsService } from '../settings/settings.service.js';

/**
 * Which backend makes writebacks (settings storage.backend, else detected: qcow2 > reflink > copy),
 * the adapter of each backend, and the space reserve below which new writebacks are refused.
 */
export class StorageBackends {
  private detected: 'qcow2' | 'reflink' | 'copy' | null = null;
  private readonly instances = new Map<string, WritebackStorage>();

  constructor(
    private readonly files: ImageFiles,
    private readonly settings: SettingsService,
    private readonly runner: ProcessRunner,
    private readonly log: Logger,
    /** qemu-storage-daemon of the qcow2 backend. */
    readonly qsd: QemuStorageDaemon,
  ) {}

  /** The backend new writebacks are made with: settings storage.backend, else detected (detect()). */
  async backendKind(): Promise<{ kind: StorageBackend; detected: boolean }> {
    const s = (await this.settings.get()).storage;
    if (s.backend) return { kind: s.backend, detected: false };
    this.detected ??= await this.detect();
    return { kind: this.detected, detected: true };
  }

  /**
   * `qcow2` (one read cache per version) where it is at its best: its daemon is the storage unit's
   * (the shipped units, GGNET_QSD_SOCKET) and runs QEMU 10 or later, whose FUSE export tgtd opens
   * O_DIRECT, so RAM holds a version once (bench shared-cache: disk and RAM 1.00x the working set
   * at 8 and 32 clients, against Nx on reflink). Else `reflink` when a FICLONE probe works in the data
   * dir, else `copy`.
   */
  private async detect(): Promise<'qcow2' | 'reflink' | 'copy'> {
    if (this.qsd.external) {
      const v = await this.qsd.version().catch(() => null);
      if (v && v.major >= QSD_DIRECT_MIN_MAJOR) return 'qcow2';
      this.log.info(
        { qemu: v ? `${v.major}.${v.minor}.${v.micro}` : null },
        v
          ? `storage backend not detected as qcow2: its daemon runs QEMU ${v.major}, whose FUSE export is opened buffered (each client keeps some cache of its own); set storage.backend=qcow2 to use it anyway`
          : 'storage backend not detected as qcow2: the storage daemon (ggnet-storage.service) does not answer',
      );
    }
    return (await reflinkWorks(join(this.files.dataDir, 'writebacks'))) ? 'reflink' : 'copy';
  }

  /** The adapter of a backend (also for writebacks made before the setting changed). */
  async storageFor(kind: StorageBackend): Promise<WritebackStorage> {
    if (kind === 'zfs') {
      const ds = (await this.settings.get()).storage.zfsDataset;
      if (!ds)
        throw unavailable(
          'zfs_dataset_missing',
          'storage.backend is zfs but storage.zfsDataset is not set',
          'set storage.zfsDataset (e.g. tank/ggnet) in the settings',
        );
      const key = `zfs:${ds}`;
      let z = this.instances.get(key);
      if (!z) this.instances.set(key, (z = new ZfsWritebackStorage(ds, this.files, this.runner)));
      return z;
    }
    if (kind === 'qcow2') return this.overlays();
    let f = this.instances.get(kind);
    if (!f) this.instances.set(kind, (f = new FileWritebackStorage(kind, this.files, this.runner)));
    return f;
  }

  private overlayStorage: OverlayWritebackStorage | null = null;

  /** The qcow2 backend's adapter (overlays, exports, the daemon). */
  overlays(): OverlayWritebackStorage {
    return (this.overlayStorage ??= new OverlayWritebackStorage(this.files, this.runner, this.qsd));
  }

  async current(): Promise<WritebackStorage> {
    return this.storageFor((await this.backendKind()).kind);
  }

  /** Settings check: the zfs backend needs its dataset. */
  static validateSettings(s: Settings): FieldError[] {
    if (s.storage.backend === 'zfs' && !s.storage.zfsDataset)
      return [
        { path: 'storage.zfsDataset', message: 'storage.backend=zfs needs the dataset (e.g. tank/ggnet)' },
      ];
    return [];
  }

  /** Logged at start-up (and shown by the storage API): the copy backend copies whole images per boot. */
  async startupCheck(): Promise<void> {
    const { kind, detected } = await this.backendKind();
    if (kind === 'copy') this.log.warn({ detected }, COPY_BACKEND_WARNING);
    else this.log.info({ backend: kind, detected }, 'storage backend');
  }

  /**
   * Refuses a new writeback (507) when free space would fall below storage.reserveBytes. Running
   * clients are not affected: their writebacks already exist.
   */
  async checkReserve(neededBytes: number): Promise<void> {
    const reserve = (await this.settings.get()).storage.reserveBytes;
    const storage = await this.current();
    const { freeBytes } = await storage.space();
    if (freeBytes - neededBytes < reserve) {
      throw insufficientStorage(
        `not enough free space for a new disk: ${formatBytes(freeBytes)} free${neededBytes ? `, ${formatBytes(neededBytes)} needed` : ''}, reserve is ${formatBytes(reserve)}`,
        'free space (discard kept writebacks, delete old image versions) or lower storage.reserveBytes; machines that are already booted keep running',
      );
    }
  }
}
