import { createHash, type Hash } from 'node:crypto';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createSHA256, type IHasher } from 'hash-wasm';
import { readRange } from './image-files.js';

/** A running sha256 over the bytes written so far. */
export interface StreamHasher {
  update(chunk: Uint8Array): void;
  digest(): string;
}

/** node:crypto (OpenSSL, SHA-NI): the fastest, but its state cannot be saved. For one-shot streams. */
export class NodeSha256 implements StreamHasher {
  private readonly h: Hash = createHash('sha256');
  update(chunk: Uint8Array): void {
    this.h.update(chunk);
  }
  digest(): string {
    return this.h.digest('hex');
  }
}

interface SavedState {
  /** Bytes of the file covered by `state`. */
  offset: number;
  /** hash-wasm's saved sha256 state, base64. */
  state: string;
}

/**
 * sha256 of a file that arrives in pieces over many requests and possibly several server runs
 * (tus). The hash state (hash-wasm save/load, ~100 bytes) is kept in a sidecar file next to the
 * upload and checkpointed as data is written, so a resume continues hashing where it stopped
 * instead of re-reading the file. If the sidecar is behind the file (crash between a write and a
 * checkpoint) only the gap is read; if it is ahead or unreadable, the file is hashed from the start.
 */
export class ResumableSha256 implements StreamHasher {
  private constructor(
    private readonly hasher: IHasher,
    public offset: number,
  ) {}

  /** Hash state matching `fileSize` bytes of `filePath`, from the sidecar when it can. */
  static async resume(filePath: string, sidecar: string, fileSize: number): Promise<ResumableSha256> {
    const hasher = await createSHA256();
    hasher.init();
    let offset = 0;
    try {
      const saved = JSON.parse(await readFile(sidecar, 'utf8')) as SavedState;
      if (Number.isSafeInteger(saved.offset) && saved.offset <= fileSize) {
        hasher.load(Buffer.from(saved.state, 'base64'));
        offset = saved.offset;
      }
    } catch {
      hasher.init();
      offset = 0;
    }
    const h = new ResumableSha256(hasher, offset);
    if (offset < fileSize) await h.catchUp(filePath, fileSize);
    return h;
  }

  static async fresh(): Promise<ResumableSha256> {
    const hasher = await createSHA256();
    hasher.init();
    return new ResumableSha256(hasher, 0);
  }

  /** Hashes bytes [offset, fileSize) that are in the file but not yet in the state. */
  private async catchUp(filePath: string, fileSize: number): Promise<void> {
    const fh = await open(filePath, 'r');
    try {
      await readRange(fh, this.offset, fileSize - this.offset, (b) => this.hasher.update(b));
      this.offset = fileSize;
    } finally {
      await fh.close();
    }
  }

  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
    this.offset += chunk.byteLength;
  }

  digest(): string {
    return this.hasher.digest('hex');
  }

  /** Writes the state atomically (tmp + rename); no fsync: a stale sidecar only costs a re-read. */
  async checkpoint(sidecar: string): Promise<void> {
    const saved: SavedState = {
      offset: this.offset,
      state: Buffer.from(this.hasher.save()).toString('base64'),
    };
    await writeFile(`${sidecar}.tmp`, JSON.stringify(saved));
    await rename(`${sidecar}.tmp`, sidecar);
  }
}

export interface WriteAtOptions {
  /** Called after each batch of bytes is written (bytes written by this call so far). */
  onProgress?: (written: number) => void;
  /** Called every `checkpointBytes` bytes, after those bytes are written and hashed. */
  onCheckpoint?: () => Promise<void>;
  checkpointBytes?: number;
  signal?: AbortSignal;
}

const BATCH_BYTES = 8 * 1024 * 1024;

/**
 * The chunks a stream has buffered (up to BATCH_BYTES), waiting for data if there is none; null
 * at its end. Never destroys the stream: on our errors the caller decides what happens to it.
 */
function nextBatch(source: Readable, signal?: AbortSignal): Promise<Buffer[] | null> {
  const take = () => {
    const out: Buffer[] = [];
    let n = 0;
    let c: Buffer | null;
    while (n < BATCH_BYTES && (c = source.read() as Buffer | null) !== null) {
      out.push(c);
      n += c.length;
    }
    return out;
  };
  return new Promise((resolve, reject) => {
    const first = take();
    if (first.length) return resolve(first);
    if (source.readableEnded) return resolve(null);
    if (source.destroyed) return reject(source.errored ?? new Error('the stream was closed before its end'));
    const cleanup = () => {
      source.off('readable', onReadable);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const onReadable = () => {
      const b = take();
      if (b.length) {
        cleanup();
        resolve(b);
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      if (source.readableEnded) resolve(null);
      else
        reject(
          source.errored ??
            Object.assign(new Error('the connection closed before the end of the data'), {
              code: 'ECONNRESET',
            }),
        );
    };
    const onAbort = () => {
      cleanup();
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    };
    source.on('readable', onReadable);
    source.once('end', onEnd);
    source.once('error', onError);
    source.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Streams `source` into `path` at `offset`, hashing every byte on the way. What the stream has
 * buffered is written with one pwritev; the next batch is read while that write is in the kernel,
 * and each batch is hashed while its write runs. The hash covers a batch only once it is given to
 * the write; if a write fails (ENOSPC...) the promise rejects and the caller drops the hasher.
 * `source` is never destroyed here, so that an HTTP server can still answer the client.
 * Resolves with the number of bytes written.
 */
export async function writeAt(
  path: string,
  source: Readable,
  offset: number,
  hasher: StreamHasher,
  opts: WriteAtOptions = {},
): Promise<number> {
  const fh = await open(path, 'r+');
  let written = 0;
  let sinceCheckpoint = 0;
  const every = opts.checkpointBytes ?? 64 * 1024 * 1024;
  const writeBatch = async (chunks: Buffer[]) => {
    let len = 0;
    for (const c of chunks) len += c.length;
    const w = fh.writev(chunks, offset + written);
    for (const c of chunks) hasher.update(c);
    let done = (await w).bytesWritten;
    if (done < len) {
      // a short write (the disk is filling up): write the rest, which either fits or fails with ENOSPC
      const rest = Buffer.concat(chunks).subarray(done);
      let pos = 0;
      while (pos < rest.length) {
        const { bytesWritten } = await fh.write(rest, pos, rest.length - pos, offset + written + done + pos);
        if (bytesWritten === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        pos += bytesWritten;
      }
      done = len;
    }
    written += len;
    sinceCheckpoint += len;
    opts.onProgress?.(written);
    if (opts.onCheckpoint && sinceCheckpoint >= every) {
      sinceCheckpoint = 0;
      await opts.onCheckpoint();
    }
  };
  let inflight: Promise<void> | null = null;
  try {
    for (;;) {
      const batch = await nextBatch(source, opts.signal);
      if (inflight) await inflight;
      inflight = null;
      if (!batch) break;
      inflight = writeBatch(batch);
      // a failure is seen at the next await of `inflight`; until then it must not count as unhandled
      inflight.catch(() => undefined);
    }
    return written;
  } finally {
    if (inflight) await inflight.catch(() => undefined);
    await fh.close();
  }
}

/** Size of a file, or null when it does not exist. */
export async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

export async function removeQuietly(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { force: true }).catch(() => undefined)));
}
