import type { StorageBackend, StorageCache, VersionCache } from '@ggnet/contracts';
import { nowIso } from '../../db/database.js';
import type { PageCache } from '../../adapters/storage/page-cache.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import type { Metrics } from '../../http/metrics.js';
import type { StorageBackends } from './storage-backends.js';
import type { WritebacksRepository } from './writebacks.repository.js';

/**
 * The read cache per version (issue 12): RAM held in the page cache by each version's master and by
 * its disks' own files (fincore: a reflink clone caches apart from its master, a qcow2 overlay reads
 * through the master's cache), and on the qcow2 backend what qemu-storage-daemon read against what
 * of it came from disk (the process's kernel counters; QEMU counts no bytes for its exports): the hit
 * rate. Computed at most every few seconds (fincore maps every file).
 */
export class VersionCacheStats {
  private last: { at: number; value: Promise<StorageCache> } | null = null;
  private read = 0;
  private disk = 0;
  private ioSeen: { pid: number; read: number; disk: number } | null = null;
  private since: string | null = null;
  maxAgeMs = 5000;

  constructor(
    private readonly repo: WritebacksRepository,
    private readonly backends: StorageBackends,
    private readonly files: ImageFiles,
    private readonly pageCache: PageCache,
  ) {}

  get(): Promise<StorageCache> {
    if (this.last && Date.now() - this.last.at < this.maxAgeMs) return this.last.value;
    const value = this.compute();
    this.last = { at: Date.now(), value };
    value.catch(() => (this.last = null));
    return value;
  }

  /** Counters of the daemon process since the first sample (a new daemon counts from its start). */
  private sampleDaemon(): void {
    const st = this.backends.qsd.status();
    if (st.state === 'not-started' || !st.pid || st.readBytes === null || st.diskReadBytes === null) return;
    const now = { pid: st.pid, read: st.readBytes, disk: st.diskReadBytes };
    const prev = this.ioSeen;
    if (!prev) this.since = nowIso();
    else if (prev.pid === now.pid) {
      this.read += Math.max(0, now.read - prev.read);
      this.disk += Math.max(0, now.disk - prev.disk);
    } else {
      this.read += now.read;
      this.disk += now.disk;
    }
    this.ioSeen = now;
  }

  private async compute(): Promise<StorageCache> {
    const { kind } = await this.backends.backendKind();
    const versions = await this.repo.cacheVersions();
    const live = (await this.repo.live()).filter((w) => w.path && w.state !== 'creating');
    this.sampleDaemon();
    const masters = new Map(versions.map((v) => [v.id, this.files.inside(v.path)]));
    const diskFiles = new Map<string, string[]>();
    for (const w of live) {
      const storage = await this.backends.storageFor(w.backend as StorageBackend).catch(() => null);
      if (!storage || storage.kind === 'zfs') continue;
      // the disk's own file: a clone, a copy, or the overlay (never a FUSE export: opening drops its cache)
      const file = storage.kind === 'qcow2' ? this.files.inside(w.path) : storage.blockPath(w.path);
      diskFiles.set(w.version_id, [...(diskFiles.get(w.version_id) ?? []), file]);
    }
    let resident: Map<string, number> | null = null;
    try {
      resident = await this.pageCache.resident([...masters.values(), ...[...diskFiles.values()].flat()]);
    } catch {
      resident = null;
    }
    const out: VersionCache[] = versions.map((v) => {
      const master = resident ? (resident.get(masters.get(v.id)!) ?? 0) : null;
      const own = (diskFiles.get(v.id) ?? []).reduce((a, f) => a + (resident?.get(f) ?? 0), 0);
      return {
        imageId: v.image_id,
        imageName: v.image_name,
        versionId: v.id,
        versionNumber: v.number,
        sizeBytes: v.size_bytes,
        disks: live.filter((w) => w.version_id === v.id).length,
        masterCacheBytes: master,
        cacheBytes: master === null ? null : master + own,
      };
    });
    const st = this.backends.qsd.status();
    const counting = this.ioSeen !== null;
    return {
      backend: kind,
      daemon:
        st.state === 'not-started'
          ? null
          : { state: st.state, pid: st.pid, adopted: st.adopted, restarts: st.restarts },
      readBytes: counting ? this.read : null,
      diskReadBytes: counting ? this.disk : null,
      hitRate: counting && this.read > 0 ? Math.max(0, Math.min(1, 1 - this.disk / this.read)) : null,
      countingSince: this.since,
      versions: out,
    };
  }
}

/** Prometheus: the read cache per version and the qcow2 backend's hit rate, read at scrape time. */
export function registerCacheMetrics(metrics: Metrics, cache: VersionCacheStats): void {
  const per = (pick: (v: VersionCache) => number | null) => async () =>
    ((await cache.get().catch(() => null))?.versions ?? [])
      .filter((v) => pick(v) !== null)
      .map((v) => ({ labels: { image: v.imageName, version: String(v.versionNumber) }, value: pick(v)! }));
  metrics.labelledGauge(
    'ggnet_version_cache_bytes',
    "Page cache held by a version: its master file plus its disks' own files (reflink clones cache apart)",
    ['image', 'version'],
    per((v) => v.cacheBytes),
  );
  metrics.labelledGauge(
    'ggnet_version_master_cache_bytes',
    "Page cache held by a version's master file (shared by all its qcow2 overlays)",
    ['image', 'version'],
    per((v) => v.masterCacheBytes),
  );
  metrics.labelledGauge(
    'ggnet_storage_cache_hit_ratio',
    'qcow2 backend: share of qemu-storage-daemon reads answered by the page cache',
    [],
    async () => {
      const h = (await cache.get().catch(() => null))?.hitRate ?? null;
      return h === null ? [] : [{ labels: {}, value: h }];
    },
  );
  metrics.labelledGauge(
    'ggnet_storage_daemon_read_bytes',
    'qcow2 backend: bytes qemu-storage-daemon read (page cache or disk) since GGnet started counting',
    [],
    async () => {
      const d = (await cache.get().catch(() => null))?.readBytes ?? null;
      return d === null ? [] : [{ labels: {}, value: d }];
    },
  );
  metrics.labelledGauge(
    'ggnet_storage_disk_read_bytes',
    'qcow2 backend: bytes qemu-storage-daemon read from disk since GGnet started counting',
    [],
    async () => {
      const d = (await cache.get().catch(() => null))?.diskReadBytes ?? null;
      return d === null ? [] : [{ labels: {}, value: d }];
    },
  );
}
