import { existsSync } from 'node:fs';
import { ZFS_DATASET_RE } from '@ggnet/contracts';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProcessError, type ProcessRunner } from '../process/process-runner.adapter.js';
import type { ImageFiles } from './image-files.js';
import type { StoredWriteback, VersionSource, WritebackStorage } from './storage.adapter.js';

const ID_RE = /^[0-9a-f-]{36}$/;

/**
 * `storage.backend = zfs` (settings storage.zfsDataset, e.g. `tank/ggnet`):
 *   <ds>/versions/<versionId>        a sparse zvol holding the version (imported once from its raw file)
 *   <ds>/versions/<versionId>@base   its snapshot: what writebacks are cloned from
 *   <ds>/writebacks/<writebackId>    a clone of that snapshot: the per-boot disk (instant, copy-on-write)
 * The version raw file stays the source of truth in the data dir (uploads, checksums and "apply" work on
 * files); the zvol is the clone source. Not exercised on this CI machine (no ZFS): its unit test checks
 * the exact command sequences against a fake runner.
 */
export class ZfsWritebackStorage implements WritebackStorage {
  readonly kind = 'zfs' as const;
  readonly root: string;

  constructor(
    private readonly dataset: string,
    private readonly files: ImageFiles,
    private readonly runner: ProcessRunner,
    private readonly opts: { deviceWaitMs?: number; deviceExists?: (path: string) => boolean } = {},
  ) {
    if (!ZFS_DATASET_RE.test(dataset)) throw new Error(`invalid ZFS dataset name: ${dataset}`);
    this.root = dataset;
  }

  private zfs(args: string[], okExitCodes = [0]) {
    return this.runner.run('zfs', args, { timeoutMs: 120_000, okExitCodes });
  }

  versionDataset(versionId: string): string {
    if (!ID_RE.test(versionId)) throw new Error(`invalid version id: ${versionId}`);
    return `${this.dataset}/versions/${versionId}`;
  }

  writebackDataset(writebackId: string): string {
    if (!ID_RE.test(writebackId)) throw new Error(`invalid writeback id: ${writebackId}`);
    return `${this.dataset}/writebacks/${writebackId}`;
  }

  private checkRef(ref: string): string {
    const prefix = `${this.dataset}/writebacks/`;
    if (!ref.startsWith(prefix) || !ID_RE.test(ref.slice(prefix.length)))
      throw new Error(`not a writeback dataset: ${ref}`);
    return ref;
  }

  private async datasetExists(name: string): Promise<boolean> {
    const r = await this.zfs(['list', '-H', '-o', 'name', name], [0, 1]);
    return r.exitCode === 0;
  }

  /** zvol device nodes appear asynchronously (udev). */
  private async waitDevice(name: string): Promise<void> {
    const dev = `/dev/zvol/${name}`;
    const until = Date.now() + (this.opts.deviceWaitMs ?? 10_000);
    const present = this.opts.deviceExists ?? existsSync;
    while (!present(dev)) {
      if (Date.now() > until) throw new Error(`${dev} did not appear`);
      await sleep(50);
    }
  }

  /** Imports a version into its zvol + snapshot once; later writebacks clone the snapshot. */
  async ensureVersion(v: VersionSource): Promise<string> {
    const ds = this.versionDataset(v.id);
    const snap = `${ds}@base`;
    if (await this.datasetExists(snap)) return snap;
    // a volume size must be a multiple of the block size: round up to 1 MiB (raw images nearly always are)
    const size = Math.ceil(v.sizeBytes / 1048576) * 1048576;
    if (!(await this.datasetExists(ds))) {
      await this.zfs([
        'create',
        '-p',
        '-s',
        '-V',
        String(size),
        '-o',
        'volblocksize=16K',
        '-o',
        'volmode=dev',
        ds,
      ]);
    }
    await this.waitDevice(ds);
    await this.runner.run(
      'qemu-img',
      ['convert', '-n', '-f', 'raw', '-O', 'raw', this.files.inside(v.path), `/dev/zvol/${ds}`],
      { timeoutMs: 6 * 3600_000 },
    );
    await this.zfs(['snapshot', snap]);
    return snap;
  }

  async create(version: VersionSource, writebackId: string): Promise<string> {
    const snap = await this.ensureVersion(version);
    const ds = this.writebackDataset(writebackId);
    await this.zfs(['clone', '-p', '-o', 'volmode=dev', snap, ds]);
    await this.waitDevice(ds);
    return ds;
  }

  async remove(ref: string): Promise<void> {
    const ds = this.checkRef(ref);
    // -r: snapshots taken for a running "apply"; exit 1 with "does not exist" is fine (idempotent)
    const r = await this.zfs(['destroy', '-r', ds], [0, 1]);
    if (r.exitCode !== 0 && !/does not exist/.test(r.stderr))
      throw new ProcessError('zfs', ['destroy', '-r', ds], 'exit', r.exitCode, r.stderr, r.stdout);
  }

  async exists(ref: string): Promise<boolean> {
    return this.datasetExists(this.checkRef(ref));
  }

  blockPath(ref: string): string {
    return `/dev/zvol/${this.checkRef(ref)}`;
  }

  async usedBytes(ref: string): Promise<number | null> {
    try {
      const r = await this.zfs(['get', '-Hp', '-o', 'value', 'used', this.checkRef(ref)]);
      const n = Number(r.stdout.trim());
      return Number.isFinite(n) ? n : null;
    } catch {
      return null;
    }
  }

  async exportTo(ref: string, destAbs: string, mode: 'move' | 'snapshot'): Promise<void> {
    const ds = this.checkRef(ref);
    let source = ds;
    let cleanup: string | null = null;
    if (mode === 'snapshot') {
      // read a frozen copy while the client keeps writing: snapshot + temporary clone
      const tag = `apply-${Date.now()}`;
      await this.zfs(['snapshot', `${ds}@${tag}`]);
      source = `${ds}-${tag}`;
      cleanup = source;
      await this.zfs(['clone', '-o', 'volmode=dev', `${ds}@${tag}`, source]);
      await this.waitDevice(source);
    }
    try {
      await this.runner.run(
        'qemu-img',
        ['convert', '-f', 'raw', '-O', 'raw', `/dev/zvol/${source}`, destAbs],
        {
          timeoutMs: 6 * 3600_000,
        },
      );
    } finally {
      if (cleanup) await this.zfs(['destroy', cleanup], [0, 1]);
    }
    if (mode === 'move') await this.remove(ds);
  }

  async list(): Promise<StoredWriteback[]> {
    const r = await this.zfs(
      ['list', '-H', '-p', '-o', 'name,creation', '-t', 'volume', '-r', `${this.dataset}/writebacks`],
      [0, 1],
    );
    if (r.exitCode !== 0) return [];
    const out: StoredWriteback[] = [];
    const prefix = `${this.dataset}/writebacks/`;
    for (const line of r.stdout.split('\n')) {
      const [name, creation] = line.split('\t');
      if (!name?.startsWith(prefix)) continue;
      const id = name.slice(prefix.length);
      if (!ID_RE.test(id)) continue;
      out.push({ ref: name, writebackId: id, mtimeMs: Number(creation) * 1000 });
    }
    return out;
  }

  /** Version zvols present (the reconciler removes those of deleted versions once no clone uses them). */
  async listVersions(): Promise<string[]> {
    const r = await this.zfs(
      ['list', '-H', '-o', 'name', '-t', 'volume', '-r', `${this.dataset}/versions`],
      [0, 1],
    );
    if (r.exitCode !== 0) return [];
    const prefix = `${this.dataset}/versions/`;
    return r.stdout
      .split('\n')
      .filter((n) => n.startsWith(prefix))
      .map((n) => n.slice(prefix.length))
      .filter((id) => ID_RE.test(id));
  }

  /** Removes a version's zvol; refused by zfs (exit 1) while a writeback clone still depends on it. */
  async removeVersion(versionId: string): Promise<boolean> {
    const r = await this.zfs(['destroy', '-r', this.versionDataset(versionId)], [0, 1]);
    return r.exitCode === 0;
  }

  async space(): Promise<{ totalBytes: number; freeBytes: number }> {
    const r = await this.zfs(['get', '-Hp', '-o', 'value', 'used,available', this.dataset]);
    const [used, avail] = r.stdout.trim().split('\n').map(Number);
    return { totalBytes: (used ?? 0) + (avail ?? 0), freeBytes: avail ?? 0 };
  }
}
