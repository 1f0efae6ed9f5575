import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { ImageFiles } from './image-files.js';
import { FileWritebackStorage, FilefragParser } from './storage.adapter.js';

const FILEFRAG = `Filesystem type is: 58465342
File size of /d/writebacks/b.raw is 67108864 (16384 blocks of 4096 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0..      99:         24..       123:    100:             shared
   1:      100..     102:       2076..      2078:      3:        124:
   2:      103..    2047:        127..      2071:   1945:       2079: shared
   3:     2048..    2051:          0..         3:      4:             unknown_loc,delalloc
   4:     4096..    4351:       5000..      5255:    256:             last,shared,eof
/d/writebacks/b.raw: 5 extents found
`;

describe('FilefragParser', () => {
  it('counts the blocks that are not shared with the version (delalloc included), in any chunking', () => {
    const whole = new FilefragParser();
    whole.push(FILEFRAG);
    expect(whole.end()).toBe((3 + 4) * 4096);
    const bytewise = new FilefragParser();
    for (const ch of FILEFRAG) bytewise.push(ch);
    expect(bytewise.end()).toBe((3 + 4) * 4096);
  });
});

describe('FileWritebackStorage', () => {
  let dir: string;
  let files: ImageFiles;
  const V = `images/${'2'.repeat(8)}-2222-4222-8222-${'2'.repeat(12)}/versions/v.raw`;
  const WB = '33333333-3333-4333-8333-333333333333';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ggnet-wb-'));
    files = new ImageFiles(dir);
    mkdirSync(join(dir, V, '..'), { recursive: true });
    writeFileSync(join(dir, V), Buffer.alloc(8192, 7));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('copy: cp keeps holes, writes to .part and renames; remove is idempotent', async () => {
    const r = new FakeProcessRunner().on('cp', (c) => {
      writeFileSync(c.args.at(-1)!, 'copied');
      return {};
    });
    const s = new FileWritebackStorage('copy', files, r);
    const ref = await s.create({ id: 'v', imageId: 'i', path: V, sizeBytes: 8192 }, WB);
    expect(ref).toBe(`writebacks/${WB}.raw`);
    expect(r.calls[0]!.args).toEqual([
      '--reflink=never',
      '--sparse=auto',
      '--',
      join(dir, V),
      join(dir, `writebacks/${WB}.raw.part`),
    ]);
    expect(await s.exists(ref)).toBe(true);
    expect((await s.list()).map((x) => x.writebackId)).toEqual([WB]);
    await s.remove(ref);
    await s.remove(ref);
    expect(await s.exists(ref)).toBe(false);
  });

  it('a failed copy leaves no file behind', async () => {
    const r = new FakeProcessRunner().on('cp', (c) => {
      writeFileSync(c.args.at(-1)!, 'partial');
      return { exitCode: 1, stderr: 'cp: No space left on device' };
    });
    const s = new FileWritebackStorage('copy', files, r);
    await expect(s.create({ id: 'v', imageId: 'i', path: V, sizeBytes: 8192 }, WB)).rejects.toThrow(
      /No space/,
    );
    expect(await s.list()).toEqual([]);
  });

  it('only accepts its own writeback paths', () => {
    const s = new FileWritebackStorage('reflink', files, new FakeProcessRunner());
    expect(() => s.blockPath('../etc/passwd')).toThrow(/not a writeback path/);
    expect(() => s.blockPath(`writebacks/${WB}.raw/../../x`)).toThrow(/not a writeback path/);
    expect(() => FileWritebackStorage.refFor('../x')).toThrow(/invalid writeback id/);
  });
});
