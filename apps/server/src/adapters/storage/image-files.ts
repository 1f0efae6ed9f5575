import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';

const ID_RE = /^[0-9a-f-]{36}$/;

/** Temporary name of a writeback being turned into a version, inside images/<imageId>/. */
const applyTmpPrefix = (writebackId: string) => `.apply-${writebackId}-`;

/** fsync of a directory, so that a rename in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of a file by path. */
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Files of images under `<dataDir>/images/<imageId>/`:
 *   source                       the stored upload (VHDX, QCOW2...) until it is converted
 *   versions/<versionId>.raw     the versions (RAW, sparse, read-only once ready)
 *   versions/<versionId>.raw.partial   a conversion in progress (never looks complete)
 * and `<dataDir>/uploads/` for uploads in progress (tus and streaming PUT staging files).
 * Paths stored in the database are relative to the data dir and always resolved through
 * `inside()`, so a bad row can never point outside it. Client file names never become paths.
 */
export class ImageFiles {
  readonly root: string;
  readonly uploadsDir: string;
  constructor(readonly dataDir: string) {
    this.root = join(dataDir, 'images');
    this.uploadsDir = join(dataDir, 'uploads');
  }

  inside(relPath: string): string {
    const abs = resolve(this.dataDir, relPath);
    const rel = relative(this.dataDir, abs);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`path escapes the data dir: ${relPath}`);
    return abs;
  }

  imageDir(imageId: string): string {
    if (!ID_RE.test(imageId)) throw new Error(`invalid image id: ${imageId}`);
    return join(this.root, imageId);
  }

  /** Relative (to the data dir) path of a version's raw file: images/<imageId>/versions/<versionId>.raw */
  versionRelPath(imageId: string, versionId: string): string {
    if (!ID_RE.test(imageId)) throw new Error(`invalid image id: ${imageId}`);
    if (!ID_RE.test(versionId)) throw new Error(`invalid version id: ${versionId}`);
    return join('images', imageId, 'versions', `${versionId}.raw`);
  }

  /** Where a conversion writes until the result is verified (then renamed to versionRelPath). */
  partialVersionPath(imageId: string, versionId: string): string {
    return `${this.inside(this.versionRelPath(imageId, versionId))}.partial`;
  }

  /** Relative path of an image's stored upload. */
  sourceRelPath(imageId: string): string {
    if (!ID_RE.test(imageId)) throw new Error(`invalid image id: ${imageId}`);
    return join('images', imageId, 'source');
  }

  /** Relative path of an install medium (an ISO, stored as uploaded): media/<mediaId>.iso */
  mediaRelPath(mediaId: string): string {
    if (!ID_RE.test(mediaId)) throw new Error(`invalid media id: ${mediaId}`);
    return join('media', `${mediaId}.iso`);
  }

  /**
   * A blank version: an empty RAW file of `size` bytes, sparse (no block written), made as
   * `.partial` and renamed into place, so that it never looks complete before it is.
   */
  async createBlankVersion(imageId: string, versionId: string, size: number): Promise<string> {
    const rel = this.versionRelPath(imageId, versionId);
    const partial = this.partialVersionPath(imageId, versionId);
    await mkdir(dirname(partial), { recursive: true, mode: 0o700 });
    const fh = await open(partial, 'wx', 0o600);
    try {
      await fh.truncate(size);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.moveInto(partial, rel);
    return rel;
  }

  /** Staging file of a streaming upload or an import (inside the data dir, same filesystem). */
  stagingPath(kind: 'put' | 'import', imageId: string): string {
    if (!ID_RE.test(imageId)) throw new Error(`invalid image id: ${imageId}`);
    return join(this.uploadsDir, `${kind}-${imageId}.part`);
  }

  /**
   * Where a writeback is put while it becomes a version of its image:
   * images/<imageId>/.apply-<writebackId>-<time>.raw (same filesystem as the version files).
   */
  applyTempPath(imageId: string, writebackId: string): string {
    return this.inside(join('images', imageId, `${applyTmpPrefix(writebackId)}${Date.now()}.raw`));
  }

  /** What applies of this writeback left behind (a server that stopped mid-apply), oldest first. */
  async applyLeftovers(imageId: string, writebackId: string): Promise<string[]> {
    const dir = this.inside(join('images', imageId));
    return (await readdir(dir).catch(() => [] as string[]))
      .filter((n) => n.startsWith(applyTmpPrefix(writebackId)) && n.endsWith('.raw'))
      .sort()
      .map((n) => join(dir, n));
  }

  /** Removes a file given by its absolute path (an apply's temporary file); missing is fine. */
  async removeAbsolute(path: string): Promise<void> {
    await rm(this.inside(path), { force: true });
  }

  /** Renames a file back to where it came from (an interrupted apply's writeback, same filesystem). */
  async renameBack(from: string, to: string): Promise<void> {
    await rename(this.inside(from), this.inside(to));
  }

  async removeImage(imageId: string): Promise<void> {
    await rm(this.imageDir(imageId), { recursive: true, force: true });
  }

  async removeFile(relPath: string): Promise<void> {
    await rm(this.inside(relPath), { force: true });
  }

  /**
   * Moves a complete file (staging, same filesystem) to relPath atomically: fsync the file, rename,
   * fsync the directory. Until the rename nothing under images/ looks complete.
   */
  async moveInto(sourcePath: string, relPath: string): Promise<string> {
    const dest = this.inside(relPath);
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    await syncFile(sourcePath);
    await rename(sourcePath, dest);
    await syncDir(dirname(dest));
    return dest;
  }

  /**
   * Moves a file into the data dir at relPath (rename: same filesystem), fsyncs it and its
   * directory, and returns its size and sha256.
   */
  /** Moves a file into place (fsync + rename) and returns its size; the sha256 is the caller's job. */
  async adoptFile(sourcePath: string, relPath: string): Promise<{ size: number }> {
    const dest = await this.moveInto(sourcePath, relPath);
    return { size: (await stat(dest)).size };
  }

  /** Bytes allocated on disk (raw files are sparse), or null when the file is missing. */
  async allocatedBytes(relPath: string): Promise<number | null> {
    try {
      const s = await stat(this.inside(relPath));
      return s.blocks * 512;
    } catch {
      return null;
    }
  }

  /** Bytes available to GGnet on the filesystem of the data dir. */
  async freeBytes(): Promise<number> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const s = await statfs(this.dataDir);
    return s.bavail * s.bsize;
  }
}

/** sha256 of a whole file (node's OpenSSL: SHA-NI where the CPU has it). */
export async function sha256File(
  path: string,
  opts: { signal?: AbortSignal; onProgress?: (bytesDone: number) => void } = {},
): Promise<string> {
  const hash = createHash('sha256');
  let done = 0;
  const src = createReadStream(path, { highWaterMark: 4 * 1024 * 1024 });
  if (opts.onProgress) {
    src.on('data', (c: Buffer | string) => {
      done += c.length;
      opts.onProgress!(done);
    });
  }
  await pipeline(src, hash, { signal: opts.signal });
  return hash.digest('hex');
}

/** Reads [offset, offset+length) of an open file in big blocks and feeds it to `update`. */
export async function readRange(
  fh: FileHandle,
  offset: number,
  length: number,
  update: (chunk: Buffer) => void,
  signal?: AbortSignal,
  blockSize = 8 * 1024 * 1024,
): Promise<void> {
  const buffers = [Buffer.allocUnsafe(blockSize), Buffer.allocUnsafe(blockSize)];
  let pos = offset;
  const end = offset + length;
  let i = 0;
  // double buffering: the next read runs in the thread pool while this block is hashed
  let pending = pos < end ? fh.read(buffers[0]!, 0, Math.min(blockSize, end - pos), pos) : null;
  while (pending) {
    const { bytesRead } = await pending;
    if (signal?.aborted) throw new Error('aborted');
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${pos}`);
    const buf = buffers[i]!;
    pos += bytesRead;
    i ^= 1;
    pending = pos < end ? fh.read(buffers[i]!, 0, Math.min(blockSize, end - pos), pos) : null;
    update(buf.subarray(0, bytesRead));
  }
}

/**
 * True when the file is an ISO 9660 image (a CD/DVD image: an installer), by its content: the
 * primary volume descriptor at byte 32768 starts with 0x01 "CD001". A disk image (RAW, VHDX,
 * QCOW2...) never has it there.
 */
export async function isIso9660(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(6);
    const { bytesRead } = await fh.read(buf, 0, 6, 32768);
    return bytesRead === 6 && buf[0] === 0x01 && buf.toString('latin1', 1, 6) === 'CD001';
  } finally {
    await fh.close();
  }
}
