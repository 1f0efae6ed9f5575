import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';

/**
 * Files of images under `<dataDir>/images/<imageId>/`. Version paths are stored relative to the
 * data dir and always resolved through `inside()`, so a bad row can never point outside it.
 */
export class ImageFiles {
  readonly root: string;
  constructor(readonly dataDir: string) {
    this.root = join(dataDir, 'images');
  }

  inside(relPath: string): string {
    const abs = resolve(this.dataDir, relPath);
    const rel = relative(this.dataDir, abs);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`path escapes the data dir: ${relPath}`);
    return abs;
  }

  imageDir(imageId: string): string {
    if (!/^[0-9a-f-]{36}$/.test(imageId)) throw new Error(`invalid image id: ${imageId}`);
    return join(this.root, imageId);
  }

  /** Relative (to the data dir) path of a version's raw file: images/<imageId>/versions/<versionId>.raw */
  versionRelPath(imageId: string, versionId: string): string {
    if (!/^[0-9a-f-]{36}$/.test(versionId)) throw new Error(`invalid version id: ${versionId}`);
    return join('images', imageId, 'versions', `${versionId}.raw`);
  }

  async removeImage(imageId: string): Promise<void> {
    await rm(this.imageDir(imageId), { recursive: true, force: true });
  }

  async removeFile(relPath: string): Promise<void> {
    await rm(this.inside(relPath), { force: true });
  }

  /**
   * Moves a file into the data dir at relPath (rename: same filesystem), fsyncs it and its
   * directory, and returns its size and sha256.
   */
  async adoptFile(sourcePath: string, relPath: string): Promise<{ size: number; sha256: string }> {
    const dest = this.inside(relPath);
    await mkdir(dirname(dest), { recursive: true });
    await rename(sourcePath, dest);
    const fh = await open(dest, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const dir = await open(dirname(dest), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    const hash = createHash('sha256');
    await pipeline(createReadStream(dest, { highWaterMark: 4 * 1024 * 1024 }), hash);
    return { size: (await stat(dest)).size, sha256: hash.digest('hex') };
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
}
