import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

/**
 * The backup file format: a gzip-compressed POSIX tar (ustar) of regular files, readable with
 * `tar -tzf`. Only what GGnet writes into it is accepted back: flat relative names of a strict
 * pattern, regular files, bounded sizes, so a crafted file cannot write outside the restore
 * directory.
 */

const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,60}(\/[a-z0-9][a-z0-9_.-]{0,60}){0,2}$/;
const BLOCK = 512;

export class ArchiveError extends Error {}

export interface ArchiveEntry {
  /** Name inside the archive, e.g. `database/ggnet.db`. */
  name: string;
  /** File to read it from, or its content. */
  path?: string;
  data?: Buffer;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, size: number, mtime: number): Buffer {
  if (!NAME_RE.test(name)) throw new ArchiveError(`bad archive name ${JSON.stringify(name)}`);
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o600, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.floor(mtime / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write('0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

async function* tarStream(entries: ArchiveEntry[]): AsyncGenerator<Buffer> {
  const now = Date.now();
  for (const e of entries) {
    const size = e.data ? e.data.length : statSync(e.path!).size;
    yield header(e.name, size, now);
    let written = 0;
    if (e.data) {
      yield e.data;
      written = e.data.length;
    } else {
      for await (const chunk of createReadStream(e.path!)) {
        written += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    }
    if (written !== size) throw new ArchiveError(`${e.name} changed while it was archived`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) yield Buffer.alloc(pad, 0);
  }
  yield Buffer.alloc(BLOCK * 2, 0);
}

/** Writes the entries as .tar.gz to a file, or to a stream (stdout). */
export async function writeArchive(entries: ArchiveEntry[], out: string | Writable): Promise<void> {
  const dest = typeof out === 'string' ? createWriteStream(out, { mode: 0o600 }) : out;
  await pipeline(Readable.from(tarStream(entries)), createGzip({ level: 6 }), dest);
}

export interface ExtractLimits {
  /** Largest single file accepted. */
  maxFileBytes: number;
  maxEntries: number;
}

/**
 * Extracts a .tar.gz (file or stream) into `dir`; returns each file's size and sha256. Refuses
 * anything but regular files with strict names.
 */
export async function extractArchive(
  input: string | Readable,
  dir: string,
  limits: ExtractLimits = { maxFileBytes: 64 * 1024 ** 3, maxEntries: 64 },
): Promise<Map<string, { size: number; sha256: string }>> {
  const src = typeof input === 'string' ? createReadStream(input) : input;
  const files = new Map<string, { size: number; sha256: string }>();
  interface Current {
    name: string;
    left: number;
    pad: number;
    out: ReturnType<typeof createWriteStream>;
    hash: ReturnType<typeof createHash>;
    size: number;
  }
  let buf: Buffer = Buffer.alloc(0);
  let current = null as Current | null;
  let ended = false;
  const write = (out: ReturnType<typeof createWriteStream>, chunk: Buffer) =>
    new Promise<void>((ok, fail) => out.write(chunk, (err) => (err ? fail(err) : ok())));
  const close = (out: ReturnType<typeof createWriteStream>) =>
    new Promise<void>((ok, fail) => {
      out.once('error', fail);
      out.end(() => ok());
    });
  const sink = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      (async () => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          if (ended) {
            buf = Buffer.alloc(0);
            return;
          }
          if (current) {
            if (current.left > 0) {
              if (!buf.length) return;
              const take = buf.subarray(0, Math.min(current.left, buf.length));
              buf = buf.subarray(take.length);
              current.left -= take.length;
              current.hash.update(take);
              await write(current.out, take);
              continue;
            }
            if (buf.length < current.pad) return;
            buf = buf.subarray(current.pad);
            await close(current.out);
            files.set(current.name, { size: current.size, sha256: current.hash.digest('hex') });
            current = null;
            continue;
          }
          if (buf.length < BLOCK) return;
          const h = buf.subarray(0, BLOCK);
          buf = buf.subarray(BLOCK);
          if (h.every((b) => b === 0)) {
            ended = true;
            continue;
          }
          const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
          const type = String.fromCharCode(h[156]!);
          const size = parseInt(
            h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0',
            8,
          );
          if (type !== '0' && type !== '\0') throw new ArchiveError(`${name}: not a regular file`);
          if (!NAME_RE.test(name) || name.split('/').includes('..'))
            throw new ArchiveError(`unexpected file ${JSON.stringify(name)} in the archive`);
          if (!Number.isSafeInteger(size) || size < 0 || size > limits.maxFileBytes)
            throw new ArchiveError(`${name}: bad size`);
          if (files.has(name)) throw new ArchiveError(`${name} appears twice`);
          if (files.size >= limits.maxEntries) throw new ArchiveError('too many files in the archive');
          const target = join(dir, name);
          mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
          current = {
            name,
            left: size,
            size,
            pad: (BLOCK - (size % BLOCK)) % BLOCK,
            out: createWriteStream(target, { mode: 0o600, flags: 'wx' }),
            hash: createHash('sha256'),
          };
        }
      })().then(
        () => done(),
        (err: unknown) => done(err as Error),
      );
    },
  });
  try {
    await pipeline(src, createGunzip(), sink);
  } catch (err) {
    if (current) current.out.destroy();
    if (err instanceof ArchiveError) throw err;
    throw new ArchiveError(`not a GGnet backup (.tar.gz): ${(err as Error).message}`);
  }
  if (current || !ended) throw new ArchiveError('the archive is truncated');
  return files;
}
