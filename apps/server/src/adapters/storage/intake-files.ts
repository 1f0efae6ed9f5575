import { constants } from 'node:fs';
import { mkdir, open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { NodeSha256, removeQuietly, writeAt, type WriteAtOptions } from './hashing-writer.js';

// The filesystem side of taking images in (PUT uploads and imports): staging files and files
// picked from the import directory. Errors are facts (`reason`), the uploads module words them.

const isInside = (root: string, p: string) => {
  const rel = relative(root, p);
  return rel === '' ? false : !rel.startsWith('..') && !isAbsolute(rel);
};

/** Creates an empty staging file (0600) at `path`, and its directory `dir` (0700) if missing. */
export async function createStagingFile(dir: string, path: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await (await open(path, 'w', 0o600)).close();
}

/** A file picked by a relative or absolute path inside a root directory. */
export type FileInRoot =
  | { ok: true; real: string; size: number }
  | { ok: false; reason: 'root_missing' | 'outside' | 'not_found' | 'not_a_file' };

/** `path` inside `root`, also after following symbolic links, and a regular file. */
export async function fileInRoot(root: string, path: string): Promise<FileInRoot> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return { ok: false, reason: 'root_missing' };
  }
  const lexical = resolve(root, path);
  if (!isInside(resolve(root), lexical)) return { ok: false, reason: 'outside' };
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    return { ok: false, reason: 'not_found' };
  }
  if (!isInside(realRoot, real)) return { ok: false, reason: 'outside' };
  const st = await stat(real);
  if (!st.isFile()) return { ok: false, reason: 'not_a_file' };
  return { ok: true, real, size: st.size };
}

/**
 * Copies a checked file (fileInRoot) into an existing staging file with its sha256. The source is
 * opened with O_NOFOLLOW: the checked path must not have been swapped for a symlink since. A failed
 * copy leaves no staging file.
 */
export async function copyHashed(
  source: string,
  staging: string,
  opts: Pick<WriteAtOptions, 'signal' | 'onProgress'>,
): Promise<{ size: number; sha256: string }> {
  try {
    const src = await open(source, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const hasher = new NodeSha256();
      const stream: Readable = src.createReadStream({ highWaterMark: 4 * 1024 * 1024 });
      const size = await writeAt(staging, stream, 0, hasher, opts);
      return { size, sha256: hasher.digest() };
    } finally {
      await src.close().catch(() => undefined);
    }
  } catch (err) {
    await removeQuietly(staging);
    throw err;
  }
}
