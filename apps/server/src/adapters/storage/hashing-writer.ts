import { createHash, type Hash } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/** A running sha256 over the bytes written so far. */
export interface StreamHasher {
  update(chunk: Uint8Array): void;
  digest(): string;
}

/** node:crypto (OpenSSL, SHA-NI where the CPU has it): ~1.7 GB/s here against ~0.3 GB/s for wasm. */
export class NodeSha256 implements StreamHasher {
  private readonly h: Hash = createHash('sha256');
  update(chunk: Uint8Array): void {
    this.h.update(chunk);
  }
  digest(): string {
    return this.h.digest('hex');
  }
}

export interface WriteAtOptions {
  /** Called after each batch of bytes is written (bytes written by this call so far). */
  onProgress?: (written: number) => void;
  signal?: AbortSignal;
  /** Start an fdatasync in the background after this many bytes (default 256 MiB; 0: never). */
  flushEveryBytes?: number;
  /** Refuse (error code `body_too_large`) a stream longer than this, before writing the excess. */
  maxBytes?: number;
}

/** writeAt's error for a stream longer than `maxBytes`. */
export const BODY_TOO_LARGE = 'body_too_large';

const BATCH_BYTES = 8 * 1024 * 1024;
/** Bytes read ahead of the disk; above this the source is paused (TCP backpressure for a socket). */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
const FLUSH_EVERY_BYTES = 256 * 1024 * 1024;

/**
 * Reads a stream in flowing mode into memory, up to READ_AHEAD_BYTES ahead of the writes. A
 * socket's own buffer is small (its readable high-water mark is 16-64 KiB): reading only what it
 * holds would stop the socket during every disk write and make every write tiny. Never destroys
 * the stream: on our errors the caller decides what happens to it.
 */
class ReadAhead {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private done = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  private total = 0;

  constructor(
    private readonly source: Readable,
    private readonly signal?: AbortSignal,
    private readonly maxBytes = Infinity,
  ) {
    if (source.readableEnded) this.done = true;
    else if (source.destroyed) this.failure = source.errored ?? closedEarly();
    source.on('data', this.onData);
    source.once('end', this.onEnd);
    source.once('error', this.onError);
    source.once('close', this.onClose);
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly notify = () => {
    const w = this.wake;
    this.wake = null;
    w?.();
  };
  private readonly onData = (c: Buffer | string) => {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    if (this.failure) return;
    this.total += b.length;
    if (this.total > this.maxBytes) {
      this.failure = Object.assign(new Error(`more than ${this.maxBytes} bytes were sent`), {
        code: BODY_TOO_LARGE,
      });
      this.source.pause();
      this.notify();
      return;
    }
    this.chunks.push(b);
    this.bytes += b.length;
    if (this.bytes >= READ_AHEAD_BYTES) this.source.pause();
    this.notify();
  };
  private readonly onEnd = () => {
    this.done = true;
    this.notify();
  };
  private readonly onError = (err: Error) => {
    this.failure ??= err;
    this.notify();
  };
  private readonly onClose = () => {
    if (!this.source.readableEnded) this.failure ??= this.source.errored ?? closedEarly();
    this.done = true;
    this.notify();
  };
  private readonly onAbort = () => {
    this.failure ??= Object.assign(new Error('aborted'), { name: 'AbortError' });
    this.notify();
  };

  /** The next chunks (up to BATCH_BYTES), waiting for data; null at the end of the stream. */
  async next(): Promise<Buffer[] | null> {
    while (!this.failure && this.bytes === 0 && !this.done) {
      await new Promise<void>((r) => (this.wake = r));
    }
    if (this.failure) throw this.failure;
    if (this.bytes === 0) return null;
    const out: Buffer[] = [];
    let n = 0;
    while (this.chunks.length && n < BATCH_BYTES) {
      const c = this.chunks.shift()!;
      out.push(c);
      n += c.length;
    }
    this.bytes -= n;
    if (this.bytes < READ_AHEAD_BYTES / 2 && this.source.isPaused() && !this.done) this.source.resume();
    return out;
  }

  /** Stops reading: the stream is left paused, for the caller to answer, drain or destroy. */
  dispose(): void {
    this.source.pause();
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    this.source.off('error', this.onError);
    this.source.off('close', this.onClose);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}

const closedEarly = () =>
  Object.assign(new Error('the connection closed before the end of the data'), { code: 'ECONNRESET' });

/**
 * Streams `source` into `path` at `offset`, hashing every byte on the way. Up to 32 MiB are read
 * ahead; what has arrived (up to 8 MiB) is written with one pwritev, and each batch is hashed while
 * its write runs in the thread pool. The hash covers a batch only once it is given to
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
    opts.onProgress?.(written);
    // Flush as we go (one fdatasync at a time, in the background): dirty pages stay bounded and the
    // fsync before the rename waits for the last few hundred MiB, not for gigabytes.
    if (flushEvery > 0 && written - flushedAt >= flushEvery && !flush.running) {
      flushedAt = written;
      flush.running = fh
        .datasync()
        .catch(() => undefined)
        .finally(() => {
          flush.running = null;
        });
    }
  };
  const flushEvery = opts.flushEveryBytes ?? FLUSH_EVERY_BYTES;
  let flushedAt = 0;
  const flush: { running: Promise<void> | null } = { running: null };
  let inflight: Promise<void> | null = null;
  const intake = new ReadAhead(source, opts.signal, opts.maxBytes);
  try {
    for (;;) {
      const batch = await intake.next();
      if (inflight) await inflight;
      inflight = null;
      if (!batch) break;
      inflight = writeBatch(batch);
      // a failure is seen at the next await of `inflight`; until then it must not count as unhandled
      inflight.catch(() => undefined);
    }
    return written;
  } finally {
    intake.dispose();
    if (inflight) await inflight.catch(() => undefined);
    if (flush.running) await flush.running;
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
