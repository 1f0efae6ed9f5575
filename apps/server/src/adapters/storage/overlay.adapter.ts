import { chmod, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { ProcessRunner } from '../process/process-runner.adapter.js';
import type { QemuStorageDaemon } from '../qsd/qsd.adapter.js';
import type { ImageFiles } from './image-files.js';
import { qcow2OverlayBytes } from './qcow2-overlay-header.js';
import {
  dirSpace,
  listDiskFiles,
  type StoredWriteback,
  type VersionSource,
  type WritebackStorage,
} from './storage.adapter.js';

const ID_RE = /^[0-9a-f-]{36}$/;
/** The first QEMU whose FUSE export was seen to take large O_DIRECT writes whole (10.0.13). */
export const QSD_DIRECT_MIN_MAJOR = 10;
const OVERLAY_FILE_RE = /^([0-9a-f-]{36})\.qcow2(\.part)?$/;
const REF_RE = /^overlays\/([0-9a-f-]{36})\.qcow2$/;

/**
 * The backing file name in a qcow2 header (big-endian: magic QFI\xfb, version, backing_file_offset
 * u64 at 8, backing_file_size u32 at 16), null when the image has none.
 */
export async function qcow2BackingFile(path: string): Promise<string | null> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(24);
    await fh.read(head, 0, 24, 0);
    if (head.readUInt32BE(0) !== 0x514649fb) throw new Error(`${path} is not a qcow2 image`);
    const offset = Number(head.readBigUInt64BE(8));
    const size = head.readUInt32BE(16);
    if (!offset || !size) return null;
    if (size > 4096) throw new Error(`${path}: backing file name too long`);
    const name = Buffer.alloc(size);
    await fh.read(name, 0, size, offset);
    return name.toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * `storage.backend = qcow2`: a session's disk is a qcow2 overlay `overlays/<id>.qcow2` whose backing
 * file is the version's RAW master (read-only, never written), served by qemu-storage-daemon as a FUSE
 * file `exports/<id>.img` that is the LUN's backing file (tgt; direct or buffered: see lunFlags). Every overlay of a
 * version reads the master through the daemon's one page cache of that file: N clients read a block
 * from disk once and hold it in RAM once. Making a disk writes a small qcow2 header (instant, whatever
 * the image's size, no process: qcow2-overlay-header.ts); discarding deletes it; keeping leaves it for the next boot; apply converts
 * overlay + master into a new RAW file (`qemu-img convert`), the master stays as it was.
 */
export class OverlayWritebackStorage implements WritebackStorage {
  readonly kind = 'qcow2' as const;
  readonly root: string;
  readonly exportsDir: string;
  /**
   * How tgt opens the FUSE export. Direct (no page cache of the export: the master's cache in the
   * daemon is the only one) only with a QEMU whose FUSE export takes concurrent writes: with O_DIRECT
   * the kernel sends one large write (over 1 MiB) as several FUSE requests at once, and QEMU 7.2's
   * export (Debian 12) writes the data of the last of them into all of them (measured: a 4 MiB write
   * read back as four copies of its last MiB, through iSCSI and with a plain O_DIRECT pwrite; QEMU
   * 10.0.13 of Debian 13 reads it back right). Buffered on older QEMU: correct, and the disk is still
   * read once per version, but each export keeps a page cache of its own.
   */
  async lunFlags(): Promise<'direct' | undefined> {
    const v = await this.qsd.version();
    return v && v.major >= QSD_DIRECT_MIN_MAJOR ? 'direct' : undefined;
  }
  readonly exportCopies = true;

  constructor(
    private readonly files: ImageFiles,
    private readonly runner: ProcessRunner,
    readonly qsd: QemuStorageDaemon,
  ) {
    this.root = join(files.dataDir, 'overlays');
    this.exportsDir = join(files.dataDir, 'exports');
  }

  static refFor(writebackId: string): string {
    if (!ID_RE.test(writebackId)) throw new Error(`invalid writeback id: ${writebackId}`);
    return join('overlays', `${writebackId}.qcow2`);
  }

  private idOf(ref: string): string {
    const m = REF_RE.exec(ref);
    if (!m) throw new Error(`not an overlay path: ${ref}`);
    return m[1]!;
  }

  private abs(ref: string): string {
    this.idOf(ref);
    return this.files.inside(ref);
  }

  async create(version: VersionSource, writebackId: string): Promise<string> {
    const ref = OverlayWritebackStorage.refFor(writebackId);
    const master = this.files.inside(version.path);
    const dest = this.abs(ref);
    const part = `${dest}.part`;
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await mkdir(this.exportsDir, { recursive: true, mode: 0o700 });
    try {
      // a header with the master as backing file: no data copied, same time for 1 GiB or 1 TiB,
      // written here rather than by `qemu-img create` (no process per boot)
      const { size } = await stat(master);
      await writeFile(part, qcow2OverlayBytes({ virtualSize: size, backingFile: master }), {
        mode: 0o600,
      });
      await chmod(part, 0o600); // a .part left by a crash keeps its old mode
      await rename(part, dest);
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
    return ref;
  }

  /** The master an overlay reads through, from its header; it must be a file inside the data dir. */
  async masterOf(ref: string): Promise<string> {
    const backing = await qcow2BackingFile(this.abs(ref));
    if (!backing) throw new Error(`${ref} has no backing file`);
    const rel = relative(this.files.dataDir, backing);
    if (rel.startsWith('..') || rel.startsWith('/'))
      throw new Error(`${ref}: backing file outside the data dir`);
    return this.files.inside(rel);
  }

  async serve(ref: string): Promise<void> {
    const id = this.idOf(ref);
    await mkdir(this.exportsDir, { recursive: true, mode: 0o700 });
    await this.qsd.exportOverlay({
      id,
      overlayPath: this.abs(ref),
      masterPath: await this.masterOf(ref),
      mountpoint: this.blockPath(ref),
    });
  }

  async unserve(ref: string): Promise<void> {
    await this.qsd.unexport(this.idOf(ref), this.blockPath(ref));
  }

  async remove(ref: string): Promise<void> {
    const p = this.abs(ref);
    await this.unserve(ref);
    await rm(p, { force: true });
    await rm(`${p}.part`, { force: true });
    await rm(this.blockPath(ref), { force: true });
  }

  async exists(ref: string): Promise<boolean> {
    try {
      return (await stat(this.abs(ref))).isFile();
    } catch {
      return false;
    }
  }

  blockPath(ref: string): string {
    return join(this.exportsDir, `${this.idOf(ref)}.img`);
  }

  async usedBytes(ref: string): Promise<number | null> {
    try {
      return (await stat(this.abs(ref))).blocks * 512;
    } catch {
      return null;
    }
  }

  /**
   * A new RAW file with the disk's content: overlay and master converted together (`qemu-img
   * convert`, holes kept). The master is only read. `snapshot` (a client still writes to it): `-U`,
   * since the daemon holds the overlay's lock; the copy is crash-consistent. `move`: the overlay stays
   * until the apply has stored the version (exportCopies), then it is removed.
   */
  async exportTo(ref: string, destAbs: string, mode: 'move' | 'snapshot'): Promise<void> {
    const src = this.abs(ref);
    await this.runner.run(
      'qemu-img',
      ['convert', ...(mode === 'snapshot' ? ['-U'] : []), '-f', 'qcow2', '-O', 'raw', src, destAbs],
      { timeoutMs: 6 * 3600_000 },
    );
    await chmod(destAbs, 0o600);
  }

  list(): Promise<StoredWriteback[]> {
    return listDiskFiles(this.root, OVERLAY_FILE_RE, (id) => OverlayWritebackStorage.refFor(id));
  }

  /** Export files and FUSE mounts under exports/ (the reconciler removes those no served disk owns). */
  async exportFiles(): Promise<{ files: string[]; mounts: string[] }> {
    const names = await readdir(this.exportsDir).catch(() => [] as string[]);
    return {
      files: names.filter((n) => /^[0-9a-f-]{36}\.img$/.test(n)).map((n) => join(this.exportsDir, n)),
      mounts: await this.qsd.mounts(this.exportsDir),
    };
  }

  space(): Promise<{ totalBytes: number; freeBytes: number }> {
    return dirSpace(this.root);
  }
}
