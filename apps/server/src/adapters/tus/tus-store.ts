import { createHash, type Hash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import { ERRORS, type Upload } from '@tus/server';
import { removeQuietly, sizeOf, writeAt, type StreamHasher } from '../storage/hashing-writer.js';
import { readRange } from '../storage/image-files.js';
import { TusHttpError } from './tus-errors.js';

export interface TusStoreHooks {
  /** A write failed for lack of space; the upload's bytes are already removed. Returns the error to send. */
  onDiskFull(id: string, err: Error): Promise<TusHttpError>;
}

const ID_RE = /^[0-9a-f-]{36}$/;

interface LiveHash {
  hash: Hash;
  /** Bytes of the upload the hash covers. */
  offset: number;
  touched: number;
}

/**
 * tus file store under `<dataDir>/uploads/tus/` that hashes every byte as it is written, with
 * node:crypto (OpenSSL, SHA-NI: ~5x hash-wasm's speed here, see bench/). The running hash of an
 * upload stays in memory between its requests, so a resume after a dropped connection (the common
 * case) continues hashing where it stopped and never re-reads the file. Only when that state is
 * gone (server restart, or a write that failed half-way) are the bytes received so far hashed
 * again from disk, once. Upload ids are image ids.
 */
export class HashingTusStore extends FileStore {
  private readonly live = new Map<string, LiveHash>();
  /** Uploads discarded while a request may still be writing them. */
  private readonly discarded = new Set<string>();
  /** Bytes hashed again from disk because the running hash was lost (observability and tests). */
  rehashedBytes = 0;

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

  /** The running hash covering exactly `offset` bytes of the upload. */
  private async hashAt(id: string, offset: number): Promise<LiveHash> {
    const now = Date.now();
    for (const [k, v] of this.live) if (now - v.touched > 48 * 3600_000) this.live.delete(k);
    const l = this.live.get(id);
    if (l && l.offset === offset) {
      l.touched = now;
      return l;
    }
    const fresh: LiveHash = { hash: createHash('sha256'), offset: 0, touched: now };
    if (offset > 0) {
      const fh = await open(this.filePath(id), 'r');
      try {
        await readRange(fh, 0, offset, (b) => fresh.hash.update(b));
      } finally {
        await fh.close();
      }
      fresh.offset = offset;
      this.rehashedBytes += offset;
    }
    this.live.set(id, fresh);
    return fresh;
  }

  /** Drops every running hash, as a server restart would (for tests). */
  forgetRunningHashes(): void {
    this.live.clear();
  }

  override async create(file: Upload): Promise<Upload> {
    this.filePath(file.id);
    const created = await super.create(file);
    this.live.set(file.id, { hash: createHash('sha256'), offset: 0, touched: Date.now() });
    return created;
  }

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    return this.writeBody(id, offset, readable);
  }

  /**
   * Appends a request body at `offset` (the current end of the upload) and returns the new
   * offset. Our PATCH handler calls this with the raw request, without tus's stream adapters.
   */
  async writeBody(
    id: string,
    offset: number,
    readable: Readable,
    opts: { maxBytes?: number; signal?: AbortSignal } = {},
  ): Promise<number> {
    const path = this.filePath(id);
    this.discarded.delete(id);
    const l = await this.hashAt(id, offset);
    const hasher: StreamHasher = {
      update: (c) => {
        l.hash.update(c);
        l.offset += c.byteLength;
      },
      digest: () => l.hash.copy().digest('hex'),
    };
    let written = 0;
    try {
      written = await writeAt(path, readable, offset, hasher, opts);
    } catch (err) {
      if (this.discarded.has(id)) throw TusHttpError.of(ERRORS.FILE_NO_LONGER_EXISTS);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOSPC' || e.code === 'EDQUOT') {
        await this.discard(id);
        throw await this.hooks.onDiskFull(id, e);
      }
      // the client went away (or another error): keep what was written for the resume, and the
      // running hash only if it covers exactly the bytes on disk
      if ((await sizeOf(path)) !== l.offset) this.live.delete(id);
      if (e.code === 'ENOENT' || e.code === 'EBADF') throw TusHttpError.of(ERRORS.FILE_NO_LONGER_EXISTS);
      throw err;
    } finally {
      l.touched = Date.now();
    }
    if (this.discarded.has(id)) throw TusHttpError.of(ERRORS.FILE_NO_LONGER_EXISTS);
    return offset + written;
  }

  /** sha256 of the complete upload. */
  async digest(id: string, size: number): Promise<string> {
    const l = await this.hashAt(id, size);
    return l.hash.copy().digest('hex');
  }

  /** Forgets the upload's metadata and running hash (its file was moved into the image or removed). */
  async forget(id: string): Promise<void> {
    this.live.delete(id);
    await this.configstore.delete(id).catch(() => undefined);
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
