import type { Logger } from 'pino';
import type { VersionSource, WritebackStorage } from '../../adapters/storage/storage.adapter.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { StorageBackends } from './storage-backends.js';
import type { WritebacksRepository } from './writebacks.repository.js';

/**
 * Spare clones: ready-made reflink clones of the versions machines boot, so that a boot takes one
 * with a rename instead of cloning while it waits. Refilled in the background after a burst of boots,
 * and held to storage.spareClones by the reconciler.
 */
export class SpareClones {
  private readonly refills = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; run: () => void }>();
  /** Quiet time after the last boot of a version before its spares are refilled. */
  refillDelayMs = 1500;

  constructor(
    private readonly backends: StorageBackends,
    private readonly repo: WritebacksRepository,
    private readonly settings: SettingsService,
    private readonly log: Logger,
  ) {}

  /**
   * Refill after a quiet moment: clones made while boots are being served would compete with them
   * (an XFS clone locks the version file), so a burst of boots is followed by one refill.
   */
  refillLater(storage: WritebackStorage, v: VersionSource, want: number): void {
    const pending = this.timers.get(v.id);
    if (pending) clearTimeout(pending.timer);
    const run = () => {
      this.timers.delete(v.id);
      void this.refill(storage, v, want);
    };
    const timer = setTimeout(run, this.refillDelayMs);
    timer.unref();
    this.timers.set(v.id, { timer, run });
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
  async reconcile(): Promise<{ made: number; removed: number }> {
    const s = (await this.settings.get()).storage;
    const { kind } = await this.backends.backendKind();
    const storage = await this.backends.storageFor('reflink');
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

  /** Starts the scheduled refills now (tests, benchmarks wait for them with running()). */
  runScheduled(): void {
    for (const t of [...this.timers.values()]) {
      clearTimeout(t.timer);
      t.run();
    }
  }

  /** Drops the scheduled refills (shutdown). */
  cancelScheduled(): void {
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
  }

  /** The refills under way. */
  running(): Promise<void>[] {
    return [...this.refills.values()];
  }
}
