import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import { ERRORS, type Upload } from '@tus/server';
import { ResumableSha256, removeQuietly, sizeOf, writeAt } from './hashing-writer.js';

/** An error that @tus/server sends as is: status code + body (problem+json text). */
export class TusHttpError extends Error {
  constructor(
    readonly status_code: number,
    readonly body: string,
  ) {
    super(body);
    this.name = 'TusHttpError';
  }
  static of(e: { status_code: number; body: string }): TusHttpError {
    return new TusHttpError(e.status_code, e.body);
  }
}

/** problem+json text for a tus error body. */
export const problemBody = (status: number, code: string, detail: string, hint?: string) =>
  JSON.stringify({
    type: `https://ggnet.dev/problems/${code}`,
    title: status >= 500 ? 'Server Error' : 'Upload Error',
    status,
    code,
    detail,
    ...(hint ? { hint } : {}),
  });

export const toTusError = (e: {
  statusCode: number;
  code: string;
  message: string;
  hint?: string;
}): TusHttpError => new TusHttpError(e.statusCode, problemBody(e.statusCode, e.code, e.message, e.hint));

export interface TusStoreHooks {
  /** A write failed for lack of space; the upload's bytes are already removed. Returns the error to send. */
  onDiskFull(id: string, err: Error): Promise<TusHttpError>;
}

const ID_RE = /^[0-9a-f-]{36}$/;

/**
 * tus file store under `<dataDir>/uploads/tus/` that hashes every byte as it is written. The
 * sha256 state is checkpointed to `<id>.sha256` (hash-wasm save/load) after each request and every
 * 64 MiB, so the hash is right after any number of resumes, and a resume never re-reads the whole
 * file (only the bytes after the last checkpoint, after a crash). Upload ids are image ids.
 */
export class HashingTusStore extends FileStore {
  constructor(
    directory: string,
    private readonly hooks: TusStoreHooks,
  ) {
    mkdirSync(directory, { recursive: true });
    super({ directory });
  }

  filePath(id: string): string {
    if (!ID_RE.test(id)) throw TusHttpError.of(ERRORS.FILE_NOT_FOUND);
    return join(this.directory, id);
  }

  private sidecar(id: string): string {
    return `${this.filePath(id)}.sha256`;
  }

  override async create(file: Upload): Promise<Upload> {
    this.filePath(file.id);
    const created = await super.create(file);
    await (await ResumableSha256.fresh()).checkpoint(this.sidecar(file.id));
    return created;
  }

  /** Uploads discarded while a request may still be writing them: no more checkpoints for those. */
  private readonly discarded = new Set<string>();

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const path = this.filePath(id);
    const sidecar = this.sidecar(id);
    this.discarded.delete(id);
    const hasher = await ResumableSha256.resume(path, sidecar, offset);
    let written = 0;
    try {
      written = await writeAt(path, readable, offset, hasher, {
        checkpointBytes: 64 * 1024 * 1024,
        onCheckpoint: () => (this.discarded.has(id) ? Promise.resolve() : hasher.checkpoint(sidecar)),
      });
    } catch (err) {
      if (this.discarded.has(id)) throw TusHttpError.of(ERRORS.FILE_NO_LONGER_EXISTS);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOSPC' || e.code === 'EDQUOT') {
        await this.discard(id);
        throw await this.hooks.onDiskFull(id, e);
      }
      // the client went away (or another error): keep what was written for the resume, and a
      // checkpoint only if the hash covers exactly the bytes on disk
      if ((await sizeOf(path)) === hasher.offset) await hasher.checkpoint(sidecar).catch(() => undefined);
      if (e.code === 'ENOENT' || e.code === 'EBADF') throw TusHttpError.of(ERRORS.FILE_NO_LONGER_EXISTS);
      throw err;
    }
    if (this.discarded.has(id)) throw TusHttpError.of(ERRORS.FILE_NO_LONGER_EXISTS);
    await hasher.checkpoint(sidecar);
    return offset + written;
  }

  /** sha256 of the complete upload (from the checkpointed state; reads only an unhashed tail). */
  async digest(id: string, size: number): Promise<string> {
    const hasher = await ResumableSha256.resume(this.filePath(id), this.sidecar(id), size);
    if (hasher.offset !== size) throw new Error(`hash covers ${hasher.offset} of ${size} bytes`);
    return hasher.digest();
  }

  /** Forgets the upload's metadata and hash state (its file was moved into the image or removed). */
  async forget(id: string): Promise<void> {
    await this.configstore.delete(id).catch(() => undefined);
    await removeQuietly(this.sidecar(id), `${this.sidecar(id)}.tmp`);
  }

  /** Removes everything of an upload (a request still writing it finds it gone). */
  async discard(id: string): Promise<void> {
    this.discarded.add(id);
    setTimeout(() => this.discarded.delete(id), 10 * 60_000).unref();
    await removeQuietly(this.filePath(id));
    await this.forget(id);
  }

  override async remove(id: string): Promise<void> {
    await super.remove(id);
    await this.forget(id);
  }

  /** Bytes received so far, or null when there is no such upload. */
  async received(id: string): Promise<number | null> {
    return sizeOf(this.filePath(id));
  }
}

// FileStore's constructor creates its directory with a callback that throws if that fails (an
// uncaught exception); ours is created synchronously before, so that step is skipped.
Object.defineProperty(HashingTusStore.prototype, 'checkOrCreateDirectory', { value: () => undefined });
