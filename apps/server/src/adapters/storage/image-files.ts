import { rm, stat } from 'node:fs/promises';
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

  async removeImage(imageId: string): Promise<void> {
    await rm(this.imageDir(imageId), { recursive: true, force: true });
  }

  async removeFile(relPath: string): Promise<void> {
    await rm(this.inside(relPath), { force: true });
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
