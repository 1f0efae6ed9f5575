import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { writeAt } from './hashing-writer.js';

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
});
