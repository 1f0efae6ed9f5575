import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type {
  ApplyWriteback,
  FieldError,
  Settings,
  ImageVersion,
  Page,
  StorageBackend,
  StorageSummary,
  Writeback,
  WritebackListQuery,
} from '@ggnet/contracts';
import { conflict, insufficientStorage, notFound, unavailable } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import type { ProcessRunner } from '../../adapters/process/process-runner.adapter.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import { COPY_BACKEND_WARNING, type WritebackStorage } from '../../adapters/storage/storage.adapter.js';
import type { ImagesRepository, VersionRow } from '../images/images.repository.js';
import type { ImagesService } from '../images/images.service.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { QemuStorageDaemon } from '../../adapters/qsd/qsd.adapter.js';
import { OverlayWritebackStorage } from '../../adapters/storage/overlay.adapter.js';
import { PageCache } from '../../adapters/storage/page-cache.js';
import { SpareClones } from './spare-clones.js';
import { VersionCacheStats } from './version-cache.js';
import { StorageBackends } from './storage-backends.js';
import { WritebackApply } from './writeback-apply.js';
import { toWriteback, type WritebackRow, type WritebacksRepository } from './writebacks.repository.js';

export interface NewWriteback {
  machineId: string;
  imageId: string;
  versionId: string;
  sessionId: string | null;
  targetId: string | null;
  lun: number | null;
  kept?: boolean;
}

/**
 * Writebacks (per-boot copy-on-write disks): creating, attaching, keeping and discarding them, and
 * their accounting. The parts beside it: which backend makes them and the space reserve
 * (storage-backends.ts), spare clones (spare-clones.ts), apply and its crash recovery
 * (writeback-apply.ts); the methods below that only pass on to them keep one door for the layers above.
 */
export class StorageService {
  readonly backends: StorageBackends;
  readonly spares: SpareClones;
  readonly applies: WritebackApply;
  readonly cache: VersionCacheStats;
  private readonly usedCache = new Map<string, { value: number | null; until: number }>();
  private readonly discards = new Set<Promise<void>>();
  private qsdRestartsSeen = 0;

  constructor(
    private readonly repo: WritebacksRepository,
    private readonly images: ImagesRepository,
    imagesService: ImagesService,
    private readonly files: ImageFiles,
    private readonly settings: SettingsService,
    runner: ProcessRunner,
    private readonly bus: EventBus,
    private readonly log: Logger,
    qsd: QemuStorageDaemon,
  ) {
    this.backends = new StorageBackends(files, settings, runner, log, qsd);
    this.spares = new SpareClones(this.backends, repo, settings, log);
    this.applies = new WritebackApply(repo, images, imagesService, files, this.backends, bus, log);
    this.cache = new VersionCacheStats(repo, this.backends, files, new PageCache(runner));
  }

  backendKind(): Promise<{ kind: StorageBackend; detected: boolean }> {
    return this.backends.backendKind();
  }

  storageFor(kind: StorageBackend): Promise<WritebackStorage> {
    return this.backends.storageFor(kind);
  }

  static validateSettings(s: Settings): FieldError[] {
    return StorageBackends.validateSettings(s);
  }

  startupCheck(): Promise<void> {
    return this.backends.startupCheck();
  }

  reconcileSpares(): Promise<{ made: number; removed: number }> {
    return this.spares.reconcile();
  }

  apply(id: string, body: ApplyWriteback, author: string | null): Promise<ImageVersion> {
    return this.applies.apply(id, body, author);
  }

  applyToVersion(
    id: string,
    opts: { comment: string; publish: boolean; author: string | null; mode: 'move' | 'snapshot' },
  ): Promise<ImageVersion> {
    return this.applies.applyToVersion(id, opts);
  }

  recoverInterruptedApply(id: string): Promise<'kept' | 'discarded' | null> {
    return this.applies.recoverInterruptedApply(id);
  }

  /** The ready version a writeback is made from. */
  async readyVersion(imageId: string, versionId: string): Promise<VersionRow> {
    const v = await this.images.findVersion(imageId, versionId);
    if (!v) throw notFound('version', versionId);
    if (v.state !== 'ready' || !v.path)
      throw conflict(
        'version_not_ready',
        `version ${v.number} of the image is ${v.state}, not ready`,
        'wait for its conversion to finish, or publish a ready version',
      );
    return v;
  }

  /**
   * Makes a writeback: the row first (state creating, so the reconciler knows the file may appear),
   * then the file, then state ready. A failure leaves no file and a discarded row with the error.
   */
  async create(n: NewWriteback): Promise<WritebackRow> {
    const v = await this.readyVersion(n.imageId, n.versionId);
    const { kind } = await this.backends.backendKind();
    const storage = await this.backends.storageFor(kind);
    const size = Number(v.size_bytes ?? 0);
    // a reflink/zfs clone costs nothing up front; a copy needs the allocated size of the version
    const needed = kind === 'copy' ? ((await this.files.allocatedBytes(v.path!)) ?? size) : 0;
    await this.backends.checkReserve(needed);
    const row: WritebackRow = {
      id: newId(),
      machine_id: n.machineId,
      image_id: n.imageId,
      version_id: n.versionId,
      session_id: n.sessionId,
      path: '',
      kept: n.kept ? 1 : 0,
      state: 'creating',
      created_at: nowIso(),
      discarded_at: null,
      target_id: n.targetId,
      lun: n.lun,
      backend: kind,
      size_bytes: size,
      applied_version_id: null,
      error: null,
    };
    await this.repo.insert(row);
    const source = { id: v.id, imageId: v.image_id, path: v.path!, sizeBytes: size };
    const spares = (await this.settings.get()).storage.spareClones;
    try {
      // a ready-made clone is taken with a rename; otherwise clone (or copy) now
      const spare = storage.spares && spares > 0 ? await storage.spares.take(v.id, row.id) : null;
      row.path = spare ?? (await storage.create(source, row.id));
      if (storage.spares && spares > 0) this.spares.refillLater(storage, source, spares);
    } catch (err) {
      const message = (err as Error).message;
      await this.repo.update(row.id, { state: 'discarded', error: message, discarded_at: nowIso() });
      if (kind === 'reflink' && /EOPNOTSUPP|ENOTSUP|EXDEV|EINVAL/.test(message)) {
        throw unavailable(
          'reflink_unsupported',
          `the data dir does not support reflink clones: ${message}`,
          'set storage.backend to copy, or put the data dir on XFS (reflink=1) or btrfs',
        );
      }
      if (/ENOSPC|No space left/.test(message))
        throw insufficientStorage(
          `the disk filled up while making the writeback: ${message}`,
          'free space or lower the number of kept writebacks; booted machines keep running',
        );
      if (kind === 'zfs')
        throw unavailable(
          'zfs_failed',
          `zfs could not make the writeback: ${message}`,
          'see the server log and `zfs list`',
        );
      throw err;
    }
    row.state = 'ready';
    await this.repo.update(row.id, { state: 'ready', path: row.path });
    this.bus.publish('writeback.created', row.id, toWriteback({ ...row, machine_name: null }));
    return row;
  }

  /** True when the qcow2 backend is selected or a disk of it may still exist. */
  private async overlaysInUse(): Promise<boolean> {
    if ((await this.backends.backendKind()).kind === 'qcow2') return true;
    return (await this.repo.live()).some((w) => w.backend === 'qcow2');
  }

  /** Start-up: adopts (or starts) the qemu-storage-daemon when the qcow2 backend is in use. */
  async startDaemons(): Promise<void> {
    if (await this.overlaysInUse()) await this.backends.qsd.ensureRunning();
  }

  /**
   * Reconcile step of the qcow2 backend: every disk a target serves (state ready) is exported by the
   * daemon; one that is not (the daemon was restarted and lost its exports) is exported again and
   * returned, so that the reconciler re-adds its LUN (tgt holds the dead FUSE file open). Exports no
   * served disk owns are removed, dead FUSE mounts unmounted, export files of gone disks deleted.
   */
  async reconcileOverlays(graceMs: number): Promise<{ reexported: WritebackRow[]; removed: number }> {
    const out = { reexported: [] as WritebackRow[], removed: 0 };
    if (!(await this.overlaysInUse())) return out;
    const storage = this.backends.overlays();
    const rows = (await this.repo.live()).filter((w) => w.backend === 'qcow2' && w.path);
    const served = new Set(rows.filter((w) => w.state === 'ready').map((w) => w.id));
    const exported = new Set(await storage.qsd.exports());
    // right after a daemon restart every served disk lost its export, young ones too
    const restarts = storage.qsd.status().restarts;
    if (restarts !== this.qsdRestartsSeen) graceMs = 0;
    this.qsdRestartsSeen = restarts;
    const now = Date.now();
    for (const w of rows) {
      // a disk in the making is served by its own session start (under its target's lock)
      if (w.state !== 'ready' || exported.has(w.id) || now - Date.parse(w.created_at) < graceMs) continue;
      await storage.serve(w.path);
      out.reexported.push(w);
      this.log.warn(
        { writeback: w.id },
        'a served disk had lost its export (qemu-storage-daemon restarted); exported again',
      );
    }
    for (const id of exported) {
      if (served.has(id)) continue;
      const row = rows.find((w) => w.id === id);
      if (row && (row.state === 'creating' || now - Date.parse(row.created_at) < graceMs)) continue;
      await storage.unserve(OverlayWritebackStorage.refFor(id));
      out.removed++;
    }
    const live = new Set(await storage.qsd.exports());
    const { files, mounts } = await storage.exportFiles();
    for (const m of mounts) {
      const id = /([0-9a-f-]{36})\.img$/.exec(m)?.[1];
      if (id && live.has(id)) continue;
      await storage.qsd.unmount(m);
      out.removed++;
    }
    const known = new Set(rows.map((w) => w.id));
    for (const f of files) {
      const id = /([0-9a-f-]{36})\.img$/.exec(f)![1]!;
      if (known.has(id) || live.has(id)) continue;
      await rm(f, { force: true });
    }
    return out;
  }

  /** Runs scheduled refills now and waits for all of them (tests, benchmarks). */
  async idle(): Promise<void> {
    this.spares.runScheduled();
    for (let busy = this.busy(); busy.length; busy = this.busy()) await Promise.all(busy);
  }

  private busy(): Promise<void>[] {
    return [...this.spares.running(), ...this.discards];
  }

  /** Drops scheduled refills (shutdown), then waits for running refills and discards. */
  async stopRefills(): Promise<void> {
    this.spares.cancelScheduled();
    await Promise.all(this.busy());
  }

  /** Attaches an existing (kept) writeback to a new session/target. */
  async attach(id: string, sessionId: string | null, targetId: string | null, lun: number): Promise<boolean> {
    const n = await this.repo.update(
      id,
      { state: 'ready', session_id: sessionId, target_id: targetId, lun },
      { onlyStates: ['kept'] },
    );
    return n === 1;
  }

  /**
   * What a LUN of this writeback is backed by, served first where a daemon serves the disks (qcow2:
   * the overlay exported as a FUSE file), and the LUN's backing-store flags.
   */
  async lunBacking(row: { path: string; backend: string }): Promise<{ path: string; bsoflags?: 'direct' }> {
    const storage = await this.backends.storageFor(row.backend as StorageBackend);
    try {
      await storage.serve?.(row.path);
    } catch (err) {
      throw unavailable(
        'disk_not_served',
        `qemu-storage-daemon could not serve the disk: ${(err as Error).message}`,
        'storage.backend qcow2 needs qemu-storage-daemon (Debian package qemu-system-common) and FUSE (/dev/fuse); see <data dir>/logs/qemu-storage-daemon.log, or set storage.backend to reflink',
      );
    }
    const bsoflags = await storage.lunFlags?.();
    return { path: storage.blockPath(row.path), ...(bsoflags ? { bsoflags } : {}) };
  }

  /** Keeps a writeback after its session: it stays on disk until discarded or applied. */
  async keep(id: string): Promise<void> {
    await this.repo.update(
      id,
      { state: 'kept', kept: 1, target_id: null },
      { onlyStates: ['ready', 'error'] },
    );
    const row = await this.repo.findById(id);
    if (row?.state === 'kept' && row.path) {
      // nothing serves a kept disk: its export goes (the overlay stays for the next boot)
      const storage = await this.backends.storageFor(row.backend as StorageBackend);
      await storage
        .unserve?.(row.path)
        .catch((err) => this.log.warn({ err, writeback: id }, 'could not stop serving a kept disk yet'));
    }
    if (row) this.bus.publish('writeback.updated', id, toWriteback(row));
  }

  /**
   * Discards later: the row says `discarding` now (nothing serves the file any more), the file goes in
   * the background. A reboot does not wait for its old disk to be deleted (unlinking a big clone is work
   * for the filesystem); the reconciler finishes it if GGnet stops first.
   */
  async discardSoon(id: string): Promise<void> {
    await this.repo.update(id, { state: 'discarding', target_id: null });
    const p = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.discard(id))
      .catch((err) => this.log.warn({ err, writeback: id }, 'background discard failed'))
      .finally(() => this.discards.delete(p));
    this.discards.add(p);
  }

  /** Discards a writeback (idempotent); a failure leaves it `discarding` for the reconciler to finish. */
  async discard(id: string): Promise<void> {
    const row = await this.repo.findById(id);
    if (!row || row.state === 'discarded') return;
    await this.repo.update(id, { state: 'discarding', target_id: null });
    try {
      if (row.path) await (await this.backends.storageFor(row.backend as StorageBackend)).remove(row.path);
    } catch (err) {
      await this.repo.update(id, { error: (err as Error).message });
      this.log.warn({ err, writeback: id }, 'could not remove a writeback yet; the reconciler retries');
      return;
    }
    await this.repo.update(
      id,
      { state: 'discarded', discarded_at: nowIso() },
      { onlyStates: ['discarding'] },
    );
    this.usedCache.delete(row.path);
    this.bus.publish('writeback.discarded', id, { id, machineId: row.machine_id, imageId: row.image_id });
  }

  /** Bytes a writeback owns; cached for a few seconds for lists (each needs a FIEMAP walk). */
  private async usedBytes(row: WritebackRow, fresh = false): Promise<number | null> {
    if (!row.path || row.state === 'discarded' || row.state === 'creating') return null;
    const hit = this.usedCache.get(row.path);
    if (!fresh && hit && hit.until > Date.now()) return hit.value;
    const storage = await this.backends.storageFor(row.backend as StorageBackend).catch(() => null);
    const value = storage ? await storage.usedBytes(row.path) : null;
    this.usedCache.set(row.path, { value, until: Date.now() + 5000 });
    return value;
  }

  async list(q: WritebackListQuery): Promise<Page<Writeback>> {
    const page = await this.repo.list(q);
    const items = await Promise.all(page.items.map(async (r) => toWriteback(r, await this.usedBytes(r))));
    return { items, total: page.total };
  }

  /**
   * Every live writeback with the bytes it owns (the alerts module's sample); `fresh` measures each
   * again now (and refreshes the cache the storage summary reads).
   */
  async liveWithUsage(fresh = false): Promise<Writeback[]> {
    const live = await this.repo.live();
    return Promise.all(live.map(async (r) => toWriteback(r, await this.usedBytes(r, fresh))));
  }

  async get(id: string): Promise<Writeback> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('writeback', id);
    return toWriteback(row, await this.usedBytes(row, true));
  }

  /** DELETE /writebacks/{id}: discards a kept (or failed) writeback; one in use by a session is refused. */
  async discardKept(id: string): Promise<void> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('writeback', id);
    if (row.state === 'discarded')
      throw conflict('writeback_discarded', 'the writeback is already discarded');
    if (row.state === 'ready' || row.state === 'creating')
      throw conflict(
        'writeback_in_use',
        'the writeback is the disk of a running session or target',
        row.session_id
          ? `stop session ${row.session_id} first (POST /api/v1/sessions/${row.session_id}/stop)`
          : 'delete its target first',
      );
    await this.discard(id);
  }

  async summary(): Promise<StorageSummary> {
    const { kind, detected } = await this.backends.backendKind();
    const storage = await this.backends.storageFor(kind);
    const reserve = (await this.settings.get()).storage.reserveBytes;
    const { totalBytes, freeBytes } = await storage.space();
    const stats = await this.repo.versionStats();
    const versionBytes = new Map<string, number>();
    for (const v of await this.repo.versionPaths()) {
      if (!v.path) continue;
      const b = (await this.files.allocatedBytes(v.path)) ?? 0;
      versionBytes.set(v.image_id, (versionBytes.get(v.image_id) ?? 0) + b);
    }
    const wbCount = new Map<string, number>();
    const wbBytes = new Map<string, number>();
    const live = await this.repo.live();
    for (const w of live) {
      wbCount.set(w.image_id, (wbCount.get(w.image_id) ?? 0) + 1);
      wbBytes.set(w.image_id, (wbBytes.get(w.image_id) ?? 0) + ((await this.usedBytes(w)) ?? 0));
    }
    const images = stats
      .map((s) => ({
        imageId: s.image_id,
        name: s.name,
        versionCount: s.versions,
        versionBytes: versionBytes.get(s.image_id) ?? 0,
        writebackCount: wbCount.get(s.image_id) ?? 0,
        writebackBytes: wbBytes.get(s.image_id) ?? 0,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return {
      backend: kind,
      detected,
      warning: kind === 'copy' ? COPY_BACKEND_WARNING : null,
      root: storage.root,
      totalBytes,
      freeBytes,
      reserveBytes: reserve,
      belowReserve: freeBytes < reserve,
      versionBytes: [...versionBytes.values()].reduce((a, b) => a + b, 0),
      writebackBytes: [...wbBytes.values()].reduce((a, b) => a + b, 0),
      writebackCount: live.length,
      images,
    };
  }
}
