import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { parseFuseMounts } from '../qsd/qsd.adapter.js';
import { FakeQemuStorageDaemon } from '../qsd/qsd.fake.js';
import { ImageFiles } from './image-files.js';
import { OverlayWritebackStorage, qcow2BackingFile } from './overlay.adapter.js';
import { parseFincore } from './page-cache.js';
import { qcow2Header } from './overlay.fake.js';

const WB = '0b9f2c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f';

describe('qcow2 overlay backend (fake runner, fake qemu-storage-daemon)', () => {
  let dir: string;
  let runner: FakeProcessRunner;
  let qsd: FakeQemuStorageDaemon;
  let storage: OverlayWritebackStorage;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ggnet-overlay-'));
    runner = new FakeProcessRunner();
    // the version's master (1 MiB, sparse)
    mkdirSync(join(dir, 'images', 'i1'), { recursive: true });
    writeFileSync(join(dir, 'images', 'i1', 'v1.raw'), '');
    truncateSync(join(dir, 'images', 'i1', 'v1.raw'), 1 << 20);
    qsd = new FakeQemuStorageDaemon();
    storage = new OverlayWritebackStorage(new ImageFiles(dir), runner, qsd);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const version = { id: 'v1', imageId: 'i1', path: 'images/i1/v1.raw', sizeBytes: 1 << 20 };

  it('makes an overlay over the master (no data copied), serves it as a FUSE file, unserves, removes', async () => {
    const ref = await storage.create(version, WB);
    expect(ref).toBe(`overlays/${WB}.qcow2`);
    // the header is written in process (no qemu-img), names the master, is the master's size
    expect(runner.lines()).toEqual([]);
    expect(await qcow2BackingFile(`${dir}/overlays/${WB}.qcow2`)).toBe(`${dir}/images/i1/v1.raw`);
    expect(readFileSync(`${dir}/overlays/${WB}.qcow2`).readBigUInt64BE(24)).toBe(1n << 20n);
    expect(statSync(`${dir}/overlays/${WB}.qcow2`).mode & 0o777).toBe(0o600);
    expect(existsSync(`${dir}/overlays/${WB}.qcow2.part`)).toBe(false);
    expect(await storage.exists(ref)).toBe(true);
    expect(storage.blockPath(ref)).toBe(`${dir}/exports/${WB}.img`);
    // buffered on QEMU 7.2 (its FUSE export mixes up the pieces of a large O_DIRECT write), direct from 10
    expect(await storage.lunFlags()).toBeUndefined();
    qsd.qemu = { major: 10, minor: 0, micro: 13 };
    expect(await storage.lunFlags()).toBe('direct');
    qsd.qemu = { major: 7, minor: 2, micro: 22 };
    await storage.serve(ref);
    expect(qsd.served.get(WB)).toEqual({
      id: WB,
      overlayPath: `${dir}/overlays/${WB}.qcow2`,
      masterPath: `${dir}/images/i1/v1.raw`,
      mountpoint: `${dir}/exports/${WB}.img`,
    });
    await storage.serve(ref);
    expect(qsd.calls).toEqual([`export ${WB}`]);
    expect((await storage.list()).map((w) => w.writebackId)).toEqual([WB]);
    await storage.unserve(ref);
    expect(qsd.served.size).toBe(0);
    expect(await storage.exists(ref)).toBe(true);
    await storage.remove(ref);
    expect(await storage.exists(ref)).toBe(false);
    expect(await storage.list()).toEqual([]);
  });

  it('apply converts overlay + master into a raw file; a live disk is read with -U (snapshot)', async () => {
    const ref = await storage.create(version, WB);
    const dest = join(dir, 'out.raw');
    runner.on('qemu-img', (c) =>
      c.args[0] === 'convert' ? (writeFileSync(c.args.at(-1)!, ''), {}) : undefined,
    );
    await storage.exportTo(ref, dest, 'snapshot');
    await storage.exportTo(ref, dest, 'move');
    expect(runner.lines()).toEqual([
      `qemu-img convert -U -f qcow2 -O raw ${dir}/overlays/${WB}.qcow2 ${dest}`,
      `qemu-img convert -f qcow2 -O raw ${dir}/overlays/${WB}.qcow2 ${dest}`,
    ]);
    // the data is copied out: the overlay stays until the apply has its version
    expect(storage.exportCopies).toBe(true);
    expect(await storage.exists(ref)).toBe(true);
  });

  it('refuses refs and backing files outside their places', async () => {
    expect(() => storage.blockPath('overlays/../x.qcow2')).toThrow(/not an overlay path/);
    const ref = await storage.create(version, WB);
    writeFileSync(join(dir, ref), qcow2Header('/etc/shadow'));
    await expect(storage.serve(ref)).rejects.toThrow(/outside the data dir/);
    writeFileSync(join(dir, ref), qcow2Header(null));
    await expect(storage.serve(ref)).rejects.toThrow(/no backing file/);
    writeFileSync(join(dir, ref), Buffer.alloc(64));
    await expect(qcow2BackingFile(join(dir, ref))).rejects.toThrow(/not a qcow2 image/);
    expect(qsd.served.size).toBe(0);
  });
});

describe('parsers', () => {
  it('finds FUSE mounts under a directory in mountinfo (octal escapes)', () => {
    const text = [
      '36 25 0:32 / /data/exports/a.img rw,nosuid,nodev,relatime shared:1 - fuse /dev/fuse rw,user_id=0',
      '37 25 0:33 / /data/exports/with\\040space.img rw - fuse /dev/fuse rw',
      '38 25 8:1 / /data/exports rw - xfs /dev/loop1 rw',
      '39 25 0:34 / /other/x.img rw - fuse /dev/fuse rw',
    ].join('\n');
    expect(parseFuseMounts(text, '/data/exports')).toEqual([
      '/data/exports/a.img',
      '/data/exports/with space.img',
    ]);
  });

  it('reads fincore --raw --bytes lines', () => {
    expect(parseFincore('1048576 /a/b.raw\n0 /a/c\\x20d.raw\n')).toEqual([
      [1048576, '/a/b.raw'],
      [0, '/a/c d.raw'],
    ]);
  });
});
