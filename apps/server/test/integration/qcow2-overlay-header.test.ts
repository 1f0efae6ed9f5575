import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qcow2OverlayBytes } from '../../src/adapters/storage/qcow2-overlay-header.js';

/**
 * The qcow2 overlay header GGnet writes itself (instead of `qemu-img create` per boot), checked by
 * QEMU's own tools: qemu-img check/info find what they find in qemu-img's file, the metadata
 * clusters are byte for byte qemu-img's, and QEMU reads the master through it and writes into it.
 */
const run = async (cmd: string, args: string[]) => (await promisify(execFile)(cmd, args)).stdout;
const info = async (f: string) =>
  JSON.parse(await run('qemu-img', ['info', '--output=json', f])) as Record<string, unknown> & {
    'format-specific': { data: Record<string, unknown> };
  };
const check = async (f: string) =>
  JSON.parse(await run('qemu-img', ['check', '--output=json', f])) as Record<string, unknown>;
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('qcow2 overlay header written in process (real qemu-img, qemu-io)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ggnet-qcow2-header-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // 20 GiB (one L1 cluster), 512 bytes (smallest), 5 TiB (two L1 clusters), an odd size
  for (const size of [20 * 2 ** 30, 512, 5 * 2 ** 40, 3 * 2 ** 30 + 7 * 512]) {
    it(`${size} bytes: qemu-img check is clean and info, size and metadata equal qemu-img create's`, async () => {
      const master = join(dir, `m-${size}.raw`);
      const fh = await open(master, 'w');
      await fh.truncate(size);
      await fh.close();
      const mine = join(dir, `mine-${size}.qcow2`);
      const theirs = join(dir, `theirs-${size}.qcow2`);
      writeFileSync(mine, qcow2OverlayBytes({ virtualSize: size, backingFile: master }));
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', master, '-F', 'raw', theirs]);

      const c = await check(mine);
      expect(c).toMatchObject({ 'check-errors': 0, filename: mine, format: 'qcow2' });
      expect(c).not.toHaveProperty('corruptions');
      expect(c).not.toHaveProperty('leaks');
      const [a, b] = [await info(mine), await info(theirs)];
      for (const k of [
        'format',
        'virtual-size',
        'cluster-size',
        'backing-filename',
        'backing-filename-format',
      ])
        expect(a[k], k).toEqual(b[k]);
      expect(a['virtual-size']).toBe(size);
      expect(a['backing-filename']).toBe(master);
      expect(a['format-specific'].data).toEqual(b['format-specific'].data);
      // same file size, and the refcount table, refcount block and L1 table byte for byte
      const [x, y] = [readFileSync(mine), readFileSync(theirs)];
      expect(x.length).toBe(y.length);
      expect(x.subarray(65536).equals(y.subarray(65536))).toBe(true);
      // the header fields before the extensions too, except where the backing name is placed
      expect(x.subarray(16, 104).equals(y.subarray(16, 104))).toBe(true);
    });
  }

  it('QEMU reads the master through it and writes into the overlay only; the master stays byte-identical', async () => {
    const master = join(dir, 'data.raw');
    const fh = await open(master, 'w');
    await fh.truncate(64 * 2 ** 20);
    await fh.write(Buffer.alloc(65536, 0xab), 0, 65536, 2 ** 20);
    await fh.close();
    const before = sha(master);
    const ov = join(dir, 'data.qcow2');
    writeFileSync(ov, qcow2OverlayBytes({ virtualSize: 64 * 2 ** 20, backingFile: master }));
    const io = (cmd: string) => run('qemu-io', ['-f', 'qcow2', '-c', cmd, ov]);
    expect(await io('read -P 0xab 1M 64k')).toContain('read 65536/65536 bytes');
    expect(await io('write -P 0xcd 1M 4k')).toContain('wrote 4096/4096 bytes');
    expect(await io('read -P 0xcd 1M 4k')).toContain('read 4096/4096 bytes');
    // a pattern mismatch makes qemu-io say so: the check above can fail
    const mismatch = await io('read -P 0xab 1M 4k').then(
      () => 'no error',
      (e: { stdout?: string }) => e.stdout ?? '',
    );
    expect(mismatch).toContain('Pattern verification failed');
    expect(await io('read -P 0xab 1028k 60k')).toContain('read 61440/61440 bytes');
    expect(await io('read -P 0 0 1M')).toContain('read 1048576/1048576 bytes');
    expect(sha(master)).toBe(before);
    expect(await check(ov)).toMatchObject({ 'check-errors': 0 });
    expect(await check(ov)).not.toHaveProperty('corruptions');
  });

  it('refuses what QEMU would not open: a relative backing path, a size not a multiple of 512', () => {
    expect(() => qcow2OverlayBytes({ virtualSize: 2 ** 20, backingFile: 'm.raw' })).toThrow(/absolute/);
    expect(() => qcow2OverlayBytes({ virtualSize: 1000, backingFile: '/m.raw' })).toThrow(/512/);
    expect(() => qcow2OverlayBytes({ virtualSize: 0, backingFile: '/m.raw' })).toThrow(/positive/);
    expect(() => qcow2OverlayBytes({ virtualSize: 2 ** 20, backingFile: `/${'x'.repeat(1100)}` })).toThrow(
      /1023/,
    );
  });
});
