import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { BODY_TOO_LARGE, writeAt } from './hashing-writer.js';

describe('writeAt', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('writes and hashes every byte at the offset, flushing in the background as it goes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-writeat-'));
    dirs.push(dir);
    const path = join(dir, 'f');
    const head = randomBytes(4096);
    writeFileSync(path, head);
    // 40 chunks of 256 KiB, flushed every 1 MiB: several fdatasyncs overlap the writes
    const chunks = Array.from({ length: 40 }, () => randomBytes(256 * 1024));
    const hash = createHash('sha256');
    const progress: number[] = [];
    const written = await writeAt(
      path,
      Readable.from(chunks),
      head.length,
      { update: (b) => hash.update(b), digest: () => '' },
      { flushEveryBytes: 1024 * 1024, onProgress: (n) => progress.push(n) },
    );
    const body = Buffer.concat(chunks);
    expect(written).toBe(body.length);
    expect(progress.at(-1)).toBe(body.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(readFileSync(path).equals(Buffer.concat([head, body]))).toBe(true);
  });

  it('reads ahead of a slow disk without losing order, and refuses a stream longer than maxBytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-writeat-'));
    dirs.push(dir);
    const path = join(dir, 'f');
    writeFileSync(path, '');
    // 48 MiB in 64 KiB chunks: more than the read-ahead, so the source is paused and resumed
    const chunks = Array.from({ length: 768 }, (_, i) => Buffer.alloc(64 * 1024, i % 251));
    const body = Buffer.concat(chunks);
    const hash = createHash('sha256');
    const written = await writeAt(path, Readable.from(chunks), 0, {
      update: (b) => hash.update(b),
      digest: () => '',
    });
    expect(written).toBe(body.length);
    expect(readFileSync(path).equals(body)).toBe(true);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));

    writeFileSync(path, '');
    const seen: number[] = [];
    const tooLong = writeAt(
      path,
      Readable.from(chunks.slice(0, 4)),
      0,
      { update: (b) => seen.push(b.length), digest: () => '' },
      {
        maxBytes: 3 * 64 * 1024 - 1,
      },
    );
    await expect(tooLong).rejects.toMatchObject({ code: BODY_TOO_LARGE });
    // nothing past the limit reached the disk or the hash
    expect(readFileSync(path).length).toBeLessThan(3 * 64 * 1024);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(readFileSync(path).length);
  });
});
