import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { formatBytes } from '@ggnet/contracts';
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
import { AppError, conflict, insufficientStorage, notFound, unavailable } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import type { ProcessRunner } from '../../adapters/process/process-runner.adapter.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import {
  COPY_BACKEND_WARNING,
  FileWritebackStorage,
  reflinkWorks,
  type VersionSource,
  type WritebackStorage,
} from '../../adapters/storage/storage.adapter.js';
import { ZfsWritebackStorage } from '../../adapters/storage/zfs.adapter.js';
import type { ImagesRepository, VersionRow } from '../images/images.repository.js';
import type { ImagesService } from '../images/images.service.js';
import type { SettingsService } from '../settings/settings.service.js';
import { toWriteback, type WritebackRow, type WritebacksRepository } from './writebacks.repository.js';

/** Temporary name of a writeback being turned into a version, inside images/<imageId>/. */
const applyTmpPrefix = (writebackId: string) => `.apply-${writebackId}-`;

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
 * Writebacks (per-boot copy-on-write disks) and space: which backend makes them, creating and
 * discarding them, the reserve below which new ones are refused, accounting, and turning one into a
 * new image version.
 */
export class StorageService {
  private detected: 'reflink' | 'copy' | null = null;
  private readonly instances = new Map<string, WritebackStorage>();
  private readonly usedCache = new Map<string, { value: number | null; until: number }>();
  private readonly refills = new Map<string, Promise<void>>();
  private readonly discards = new Set<Promise<void>>();
  /** Writebacks this process is applying right now (the reconciler leaves them alone). */
  private readonly applyingNow = new Set<string>();
  private readonly refillTimers = new Map<string, { timer: NodeJS.Timeout; run: () => void }>();
  /** Quiet time after the last boot of a version before its spares are refilled. */
  refillDelayMs = 1500;

  constructor(
    private readonly repo: WritebacksRepository,
    private readonly images: ImagesRepository,
    private readonly imagesService: ImagesService,
    private readonly files: ImageFiles,
    private readonly settings: SettingsService,
    private readonly runner: ProcessRunner,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /** The backend new writebacks are made with: settings storage.backend, else detected (reflink > copy). */
  async backendKind(): Promise<{ kind: StorageBackend; detected: boolean }> {
    const s = (await this.settings.get()).storage;
    if (s.backend) return { kind: s.backend, detected: false };
    this.detected ??= (await reflinkWorks(join(this.files.dataDir, 'writebacks'))) ? 'reflink' : 'copy';
    return { kind: this.detected, detected: true };
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
    let f = this.instances.get(kind);
    if (!f) this.instances.set(kind, (f = new FileWritebackStorage(kind, this.files, this.runner)));
    return f;
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
    const { kind } = await this.backendKind();
    const storage = await this.storageFor(kind);
    const size = Number(v.size_bytes ?? 0);
    // a reflink/zfs clone costs nothing up front; a copy needs the allocated size of the version
    const needed = kind === 'copy' ? ((await this.files.allocatedBytes(v.path!)) ?? size) : 0;
    await this.checkReserve(needed);
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
      if (storage.spares && spares > 0) this.refillLater(storage, source, spares);
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

  /**
   * Refill after a quiet moment: clones made while boots are being served would compete with them
   * (an XFS clone locks the version file), so a burst of boots is followed by one refill.
   */
  private refillLater(storage: WritebackStorage, v: VersionSource, want: number): void {
    const pending = this.refillTimers.get(v.id);
    if (pending) clearTimeout(pending.timer);
    const run = () => {
      this.refillTimers.delete(v.id);
      void this.refill(storage, v, want);
    };
    const timer = setTimeout(run, this.refillDelayMs);
    timer.unref();
    this.refillTimers.set(v.id, { timer, run });
  }

  /** Tops up a version's spare clones in the background (one refill per version at a time). */
  refill(storage: WritebackStorage, v: VersionSource, want: number): Promise<void> {
    const running = this.refills.get(v.id);
    if (running) return running;
    const p = (async () => {
      const pool = storage.spares!;
      while (((await pool.counts()).get(v.id) ?? 0) < want) await pool.add(v);
    })()
      .catch((err) => this.log.warn({ err, version: v.id }, 'could not make spare clones'))
      .finally(() => this.refills.delete(v.id));
    this.refills.set(v.id, p);
    return p;
  }

  /**
   * Reconcile step: spare clones exist for the published versions machines boot, and for nothing
   * else (a version that is no longer published loses its spares).
   */
  async reconcileSpares(): Promise<{ made: number; removed: number }> {
    const s = (await this.settings.get()).storage;
    const { kind } = await this.backendKind();
    const storage = await this.storageFor('reflink');
    const pool = storage.spares!;
    const want = kind === 'reflink' ? s.spareClones : 0;
    const versions = want
      ? await this.repo.publishedVersionsInUse((await this.settings.get()).machines.defaultImageId)
      : [];
    const counts = await pool.counts();
    let made = 0;
    let removed = 0;
    for (const v of versions) {
      const have = counts.get(v.id) ?? 0;
      // half-made spares of an interrupted refill (GGnet stopped meanwhile)
      if (!this.refills.has(v.id)) await pool.trim(v.id, Math.max(have, want));
      if (have < want) {
        await this.refill(
          storage,
          { id: v.id, imageId: v.image_id, path: v.path, sizeBytes: v.size_bytes },
          want,
        );
        made += want - have;
      } else if (have > want) removed += await pool.trim(v.id, want);
    }
    const wanted = new Set(versions.map((v) => v.id));
    for (const [id] of counts) if (!wanted.has(id)) removed += await pool.trim(id, 0);
    return { made, removed };
  }

  /** Runs scheduled refills now and waits for all of them (tests, benchmarks). */
  async idle(): Promise<void> {
    for (const t of [...this.refillTimers.values()]) {
      clearTimeout(t.timer);
      t.run();
    }
    while (this.refills.size || this.discards.size)
      await Promise.all([...this.refills.values(), ...this.discards]);
  }

  /** Drops scheduled refills (shutdown), then waits for running refills and discards. */
  async stopRefills(): Promise<void> {
    for (const t of this.refillTimers.values()) clearTimeout(t.timer);
    this.refillTimers.clear();
    await Promise.all([...this.refills.values(), ...this.discards]);
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

  /** Keeps a writeback after its session: it stays on disk until discarded or applied. */
  async keep(id: string): Promise<void> {
    await this.repo.update(
      id,
      { state: 'kept', kept: 1, target_id: null },
      { onlyStates: ['ready', 'error'] },
    );
    const row = await this.repo.findById(id);
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
      if (row.path) await (await this.storageFor(row.backend as StorageBackend)).remove(row.path);
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
    const storage = await this.storageFor(row.backend as StorageBackend).catch(() => null);
    const value = storage ? await storage.usedBytes(row.path) : null;
    this.usedCache.set(row.path, { value, until: Date.now() + 5000 });
    return value;
  }

  async list(q: WritebackListQuery): Promise<Page<Writeback>> {
    const page = await this.repo.list(q);
    const items = await Promise.all(page.items.map(async (r) => toWriteback(r, await this.usedBytes(r))));
    return { items, total: page.total };
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

  /** POST /writebacks/{id}/apply: a kept writeback is moved into the version; one in use needs force. */
  async apply(id: string, body: ApplyWriteback, author: string | null): Promise<ImageVersion> {
    const wb = await this.get(id);
    if (wb.state === 'ready' && !body.force)
      throw conflict(
        'writeback_in_use',
        'the writeback is the disk of a running session or target',
        'stop the session (keepWriteback) and apply the kept writeback, or send force: true for a crash-consistent snapshot',
      );
    return this.applyToVersion(id, {
      comment: body.comment,
      publish: body.publish ?? false,
      author,
      mode: wb.state === 'ready' ? 'snapshot' : 'move',
    });
  }

  /**
   * Turns a writeback into a new version of its image. `move` (nothing serves it any more): the file
   * becomes the version file by a rename, no data is copied, and the writeback ends `discarded` with
   * appliedVersionId. `snapshot` (a client still uses it): a reflink clone (or copy) of its current
   * content becomes the version and the writeback stays.
   */
  async applyToVersion(
    id: string,
    opts: { comment: string; publish: boolean; author: string | null; mode: 'move' | 'snapshot' },
  ): Promise<ImageVersion> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('writeback', id);
    if (opts.mode === 'move' && row.state !== 'kept')
      throw conflict(
        'writeback_not_kept',
        `the writeback is ${row.state}; only a kept writeback (its session ended) can be applied as is`,
        'stop its session with keepWriteback, or apply through the session with force for a snapshot',
      );
    if (opts.mode === 'snapshot' && row.state !== 'ready' && row.state !== 'kept')
      throw conflict('writeback_not_ready', `the writeback is ${row.state}`);
    if (!(await this.images.findRow(row.image_id))) throw notFound('image', row.image_id);
    const storage = await this.storageFor(row.backend as StorageBackend);
    if (opts.mode === 'move') {
      // claim it: a concurrent apply or discard loses here
      const claimed = await this.repo.update(id, { state: 'applying' }, { onlyStates: ['kept'] });
      if (!claimed) throw conflict('writeback_busy', 'the writeback is being applied or discarded already');
    }
    const tmp = this.files.inside(join('images', row.image_id, `${applyTmpPrefix(row.id)}${Date.now()}.raw`));
    let version: ImageVersion;
    this.applyingNow.add(id);
    try {
      await storage.exportTo(row.path, tmp, opts.mode);
      version = await this.imagesService.addVersionFromFile(row.image_id, tmp, {
        comment: opts.comment,
        author: opts.author,
        parentVersionId: row.version_id,
      });
    } catch (err) {
      await rm(tmp, { force: true });
      if (opts.mode === 'move') {
        // the file may already have moved: if it still exists, the writeback is kept as it was
        const still = await storage.exists(row.path).catch(() => false);
        await this.repo.update(
          id,
          still
            ? { state: 'kept' }
            : { state: 'discarded', error: (err as Error).message, discarded_at: nowIso() },
        );
      }
      throw err instanceof AppError
        ? err
        : unavailable(
            'apply_failed',
            `could not apply the writeback: ${(err as Error).message}`,
            'see the server log',
          );
    } finally {
      this.applyingNow.delete(id);
    }
    if (opts.mode === 'move') {
      await this.repo.update(id, {
        state: 'discarded',
        discarded_at: nowIso(),
        applied_version_id: version.id,
      });
      this.bus.publish('writeback.discarded', id, { id, appliedVersionId: version.id });
    }
    if (opts.publish) return this.imagesService.publishVersion(row.image_id, version.id);
    return version;
  }

  /**
   * A writeback left `applying` by a server that stopped mid-apply (the reconciler calls this for rows
   * no apply of this process owns). Nothing the admin made is lost: the file goes back to its place
   * (a `move` had renamed it to images/<id>/.apply-<writeback>-*.raw) and the writeback is `kept`
   * again, to be applied once more. Only when no copy of it is left is it marked discarded.
   */
  async recoverInterruptedApply(id: string): Promise<'kept' | 'discarded' | null> {
    const row = await this.repo.findById(id);
    if (!row || row.state !== 'applying' || this.applyingNow.has(id)) return null;
    const storage = await this.storageFor(row.backend as StorageBackend);
    const dir = this.files.inside(join('images', row.image_id));
    const leftovers = (await readdir(dir).catch(() => [] as string[]))
      .filter((n) => n.startsWith(applyTmpPrefix(row.id)) && n.endsWith('.raw'))
      .sort();
    let present = row.path ? await storage.exists(row.path) : false;
    if (!present && row.path && storage.kind !== 'zfs' && leftovers.length > 0) {
      // the newest leftover is the moved file (file backends move by rename, never copy)
      await rename(join(dir, leftovers.pop()!), storage.blockPath(row.path));
      present = true;
    }
    for (const n of leftovers) await rm(join(dir, n), { force: true });
    if (present) {
      await this.repo.update(id, { state: 'kept', error: null }, { onlyStates: ['applying'] });
      this.log.warn({ writeback: id }, 'an interrupted apply was rolled back: the writeback is kept');
    } else {
      await this.repo.update(
        id,
        {
          state: 'discarded',
          discarded_at: nowIso(),
          error: 'the server stopped while applying it and its file is gone',
        },
        { onlyStates: ['applying'] },
      );
      this.log.error({ writeback: id }, 'an interrupted apply left no file behind');
    }
    const after = await this.repo.findById(id);
    if (after) this.bus.publish('writeback.updated', id, toWriteback(after));
    return present ? 'kept' : 'discarded';
  }

  async summary(): Promise<StorageSummary> {
    const { kind, detected } = await this.backendKind();
    const storage = await this.storageFor(kind);
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
