import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageBackend } from '@ggnet/contracts';
import type { ProcessRunner } from '../process/process-runner.adapter.js';
import type { ImageFiles } from './image-files.js';

/**
 * Per-boot copy-on-write disks ("writebacks"). One implementation per `storage.backend`:
 *  - reflink: a FICLONE clone of the version's raw file (XFS reflink=1, btrfs): instant, whatever the size;
 *  - copy:    a full (sparse-aware) copy, for filesystems without reflink: slow and big, warned about;
 *  - zfs:     a clone of a snapshot of the version's zvol (zfs.adapter.ts);
 *  - qcow2:   a qcow2 overlay over the version's raw file, served by qemu-storage-daemon as a FUSE file
 *             (overlay.adapter.ts): all sessions of a version share one page cache of the master.
 * A writeback is named by a reference stored in `writebacks.path`: a path relative to the data dir for
 * the file backends, a dataset name for zfs.
 */
export interface VersionSource {
  id: string;
  imageId: string;
  /** Raw file of the version, relative to the data dir. */
  path: string;
  sizeBytes: number;
}

export interface StoredWriteback {
  ref: string;
  writebackId: string;
  mtimeMs: number;
}

export interface WritebackStorage {
  readonly kind: StorageBackend;
  /** Path (or dataset) that holds writebacks, for display. */
  readonly root: string;
  /** Makes writeback `writebackId` from a version and returns its reference. */
  create(version: VersionSource, writebackId: string): Promise<string>;
  /** Removes a writeback; removing one that is already gone is fine. */
  remove(ref: string): Promise<void>;
  exists(ref: string): Promise<boolean>;
  /** What an iSCSI LUN is backed by (absolute file or block device path). */
  blockPath(ref: string): string;
  /** Bytes the writeback owns on disk (not shared with its version), null when unknown. */
  usedBytes(ref: string): Promise<number | null>;
  /**
   * Puts the writeback's content into a new raw file `destAbs` (inside the data dir, same filesystem).
   * `move`: the writeback is consumed (nothing serves it any more): a rename where possible.
   * `snapshot`: the writeback stays in use: a reflink clone / copy of its current content.
   */
  exportTo(ref: string, destAbs: string, mode: 'move' | 'snapshot'): Promise<void>;
  /** Writebacks that exist on the host (orphan cleanup compares them with the database). */
  list(): Promise<StoredWriteback[]>;
  space(): Promise<{ totalBytes: number; freeBytes: number }>;
  /** Ready-made clones (reflink only): taking one is a rename, whatever the image's size. */
  readonly spares?: SparePool;
  /**
   * Backends whose disks a daemon serves (qcow2: qemu-storage-daemon FUSE exports): makes sure the
   * disk is served before a LUN points at blockPath(); idempotent.
   */
  serve?(ref: string): Promise<void>;
  /** Stops serving a disk that stays (kept); the next serve() serves it again. */
  unserve?(ref: string): Promise<void>;
  /** tgt backing-store flags a new LUN of this backend gets (qcow2: direct where that is safe). */
  lunFlags?(): Promise<'direct' | undefined>;
  /** exportTo('move') copies the data out: the writeback is removed after a successful apply. */
  readonly exportCopies?: boolean;
}

/**
 * Spare clones of versions under writebacks/.spare/<versionId>/<id>.raw. A boot takes one with a
 * rename (atomic: two boots never get the same file) instead of cloning; the pool is refilled later.
 */
export interface SparePool {
  /** Moves a spare of the version to the writeback's path; null when none is left. */
  take(versionId: string, writebackId: string): Promise<string | null>;
  /** Makes one more spare of the version. */
  add(version: VersionSource): Promise<void>;
  /** Spares per version. */
  counts(): Promise<Map<string, number>>;
  /** Removes spares of a version (all, or down to `keep`). */
  trim(versionId: string, keep: number): Promise<number>;
}

const WRITEBACK_FILE_RE = /^([0-9a-f-]{36})\.raw(\.part)?$/;

/** Non-shared bytes of a file from `filefrag -v` (extents flagged `shared` belong to the version too). */
export class FilefragParser {
  private blockSize = 4096;
  private rest = '';
  unshared = 0;

  push(chunk: string): void {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) this.line(l);
  }

  end(): number {
    if (this.rest) this.line(this.rest);
    this.rest = '';
    return this.unshared;
  }

  private line(l: string): void {
    const bs = /\(\d+ blocks? of (\d+) bytes\)/.exec(l);
    if (bs) {
      this.blockSize = Number(bs[1]);
      return;
    }
    // "   1:      100..     102:       2076..      2078:      3:        124: last,shared"
    const m = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):(.*)$/.exec(l);
    if (!m) return;
    const flags = m[2]!.split(/[:\s]+/).pop() ?? '';
    if (!flags.split(',').includes('shared')) this.unshared += Number(m[1]) * this.blockSize;
  }
}

const ID_RE = /^[0-9a-f-]{36}$/;

/** The file backends (reflink and copy): writebacks are files `writebacks/<id>.raw` in the data dir. */
export class FileWritebackStorage implements WritebackStorage {
  readonly root: string;
  readonly spares?: SparePool;

  constructor(
    readonly kind: 'reflink' | 'copy',
    private readonly files: ImageFiles,
    private readonly runner: ProcessRunner,
  ) {
    this.root = join(files.dataDir, 'writebacks');
    if (kind === 'reflink') this.spares = new ReflinkSpares(this.root, files);
  }

  static refFor(writebackId: string): string {
    if (!/^[0-9a-f-]{36}$/.test(writebackId)) throw new Error(`invalid writeback id: ${writebackId}`);
    return join('writebacks', `${writebackId}.raw`);
  }

  private abs(ref: string): string {
    if (!/^writebacks\/[0-9a-f-]{36}\.raw$/.test(ref)) throw new Error(`not a writeback path: ${ref}`);
    return this.files.inside(ref);
  }

  async create(version: VersionSource, writebackId: string): Promise<string> {
    const ref = FileWritebackStorage.refFor(writebackId);
    const src = this.files.inside(version.path);
    const dest = this.abs(ref);
    const part = `${dest}.part`;
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    try {
      if (this.kind === 'reflink') {
        // FICLONE ioctl through libuv: no process, no data copied, fails instead of falling back to a copy
        await copyFile(src, part, constants.COPYFILE_FICLONE_FORCE);
      } else {
        // cp keeps the holes of sparse raw files (copy_file_range would allocate them)
        await this.runner.run('cp', ['--reflink=never', '--sparse=auto', '--', src, part], {
          timeoutMs: 6 * 3600_000,
        });
      }
      // a client's disk: GGnet (and root's tgtd) only, whatever mode the version file has
      await chmod(part, 0o600);
      await rename(part, dest);
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
    return ref;
  }

  async remove(ref: string): Promise<void> {
    const p = this.abs(ref);
    await rm(p, { force: true });
    await rm(`${p}.part`, { force: true });
  }

  async exists(ref: string): Promise<boolean> {
    try {
      return (await stat(this.abs(ref))).isFile();
    } catch {
      return false;
    }
  }

  blockPath(ref: string): string {
    return this.abs(ref);
  }

  async usedBytes(ref: string): Promise<number | null> {
    const p = this.abs(ref);
    try {
      if (this.kind === 'copy') return (await stat(p)).blocks * 512;
      const parser = new FilefragParser();
      // streamed: a big fragmented clone lists many extents
      await this.runner.run('filefrag', ['-v', '--', p], {
        timeoutMs: 60_000,
        maxBuffer: 64 * 1024,
        onStdout: (c) => parser.push(c),
      });
      return parser.end();
    } catch {
      return null;
    }
  }

  async exportTo(ref: string, destAbs: string, mode: 'move' | 'snapshot'): Promise<void> {
    const src = this.abs(ref);
    if (mode === 'move') {
      await rename(src, destAbs);
      return;
    }
    if (this.kind === 'reflink') {
      await copyFile(src, destAbs, constants.COPYFILE_FICLONE_FORCE);
    } else {
      await this.runner.run('cp', ['--reflink=never', '--sparse=auto', '--', src, destAbs], {
        timeoutMs: 6 * 3600_000,
      });
    }
    await chmod(destAbs, 0o600);
  }

  list(): Promise<StoredWriteback[]> {
    return listDiskFiles(this.root, WRITEBACK_FILE_RE, (id) => FileWritebackStorage.refFor(id));
  }

  space(): Promise<{ totalBytes: number; freeBytes: number }> {
    return dirSpace(this.root);
  }
}

/**
 * The disk files of a file backend in `dir` whose names match `re` (group 1: the writeback id; a
 * `.part` file is reported under its final name, so removing the writeback removes both).
 */
export async function listDiskFiles(
  dir: string,
  re: RegExp,
  refFor: (writebackId: string) => string,
): Promise<StoredWriteback[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: StoredWriteback[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (!m) continue;
    try {
      const s = await stat(join(dir, n));
      out.push({ ref: refFor(m[1]!), writebackId: m[1]!, mtimeMs: s.mtimeMs });
    } catch {
      /* removed meanwhile */
    }
  }
  return out;
}

/** Total and free bytes of the filesystem that holds `dir` (made if missing). */
export async function dirSpace(dir: string): Promise<{ totalBytes: number; freeBytes: number }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const s = await statfs(dir);
  return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
}

class ReflinkSpares implements SparePool {
  private readonly dir: string;
  constructor(
    root: string,
    private readonly files: ImageFiles,
  ) {
    this.dir = join(root, '.spare');
  }

  private versionDir(versionId: string): string {
    if (!ID_RE.test(versionId)) throw new Error(`invalid version id: ${versionId}`);
    return join(this.dir, versionId);
  }

  async take(versionId: string, writebackId: string): Promise<string | null> {
    const ref = FileWritebackStorage.refFor(writebackId);
    const dir = this.versionDir(versionId);
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /^[0-9a-f-]{36}\.raw$/.test(n));
    } catch {
      return null;
    }
    for (const n of names) {
      try {
        await rename(join(dir, n), this.files.inside(ref));
        return ref;
      } catch (err) {
        // taken by a concurrent boot: try the next one
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return null;
  }

  async add(version: VersionSource): Promise<void> {
    const dir = this.versionDir(version.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const dest = join(dir, `${randomUUID()}.raw`);
    try {
      await copyFile(this.files.inside(version.path), `${dest}.part`, constants.COPYFILE_FICLONE_FORCE);
      await chmod(`${dest}.part`, 0o600);
      await rename(`${dest}.part`, dest);
    } catch (err) {
      await rm(`${dest}.part`, { force: true });
      throw err;
    }
  }

  async counts(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let dirs: string[];
    try {
      dirs = await readdir(this.dir);
    } catch {
      return out;
    }
    for (const d of dirs) {
      if (!ID_RE.test(d)) continue;
      const n = (await readdir(join(this.dir, d)).catch(() => [] as string[])).filter((x) =>
        x.endsWith('.raw'),
      ).length;
      out.set(d, n);
    }
    return out;
  }

  async trim(versionId: string, keep: number): Promise<number> {
    const dir = this.versionDir(versionId);
    const names = await readdir(dir).catch(() => [] as string[]);
    const raws = names.filter((n) => n.endsWith('.raw'));
    const drop = [...raws.slice(keep), ...names.filter((n) => n.endsWith('.part'))];
    for (const n of drop) await rm(join(dir, n), { force: true });
    if (keep === 0) await rm(dir, { recursive: true, force: true });
    return drop.length;
  }
}

/** True when a FICLONE clone works inside dir (XFS with reflink=1, btrfs). */
export async function reflinkWorks(dir: string): Promise<boolean> {
  const probe = join(dir, `.reflink-probe-${process.pid}-${Date.now()}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(`${probe}.a`, Buffer.alloc(65536, 1));
    await copyFile(`${probe}.a`, `${probe}.b`, constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    await rm(`${probe}.a`, { force: true });
    await rm(`${probe}.b`, { force: true });
  }
}

export const COPY_BACKEND_WARNING =
  'storage backend "copy": every boot makes a full copy of the image (slow, uses space per client); ' +
  'put the data dir on XFS (mkfs.xfs -m reflink=1) or btrfs to get instant copy-on-write clones';
