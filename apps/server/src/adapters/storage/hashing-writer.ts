import { createHash, type Hash } from 'node:crypto';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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

/**
 * Streams `source` into `path` at `offset`, hashing every byte on the way. Chunks are batched
 * into one pwritev; the hash of a batch runs while its write is in the kernel. The hash only ever
 * covers bytes whose write succeeded (a failed write rejects, and the caller drops the hasher).
 * Resolves with the number of bytes written; rejects with the fs error (ENOSPC...) or the source's.
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
    const { bytesWritten } = await w;
    if (bytesWritten !== len) throw new Error(`short write: ${bytesWritten} of ${len} bytes`);
    written += len;
    sinceCheckpoint += len;
    opts.onProgress?.(written);
    if (opts.onCheckpoint && sinceCheckpoint >= every) {
      sinceCheckpoint = 0;
      await opts.onCheckpoint();
    }
  };
  // the batch in flight: a source error destroys the sink without waiting for it, so we do
  let inflight: Promise<void> = Promise.resolve();
  const sink = new Writable({
    highWaterMark: 4 * 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      inflight = writeBatch([chunk]);
      inflight.then(() => cb(), cb);
    },
    writev(items, cb) {
      inflight = writeBatch(items.map((i) => i.chunk as Buffer));
      inflight.then(() => cb(), cb);
    },
  });
  try {
    await pipeline(source, sink, { signal: opts.signal });
    return written;
  } finally {
    await inflight.catch(() => undefined);
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
