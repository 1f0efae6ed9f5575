import { describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { ProcessError } from '../process/process-runner.adapter.js';
import { RealQemuImg, assertSafePath, convertArgs, parseInfo, qemuMessage } from './qemu-img.adapter.js';

const VMDK_INFO = JSON.stringify({
  'virtual-size': 104857600,
  filename: '/data/images/x/source',
  'cluster-size': 65536,
  format: 'vmdk',
  'actual-size': 67133440,
  'format-specific': {
    type: 'vmdk',
    data: { 'create-type': 'monolithicSparse', extents: [{ filename: '/data/images/x/source' }] },
  },
  'dirty-flag': false,
});

describe('qemu-img adapter', () => {
  it('parses info: format, sizes, backing file, extents', () => {
    const i = parseInfo(VMDK_INFO);
    expect(i).toMatchObject({
      format: 'vmdk',
      virtualSize: 104857600,
      actualSize: 67133440,
      backingFile: null,
      extents: ['/data/images/x/source'],
    });
    const b = parseInfo(
      JSON.stringify({ format: 'qcow2', 'virtual-size': 1, 'backing-filename': 'base.raw', encrypted: true }),
    );
    expect(b).toMatchObject({ backingFile: 'base.raw', encrypted: true });
    expect(() => parseInfo('{"format":"raw"}')).toThrow(/virtual size/);
  });

  it('runs info with --output=json on the path, never with a format (detection by content)', async () => {
    const runner = new FakeProcessRunner().on('qemu-img', { stdout: VMDK_INFO });
    const q = new RealQemuImg(runner);
    await q.info('/data/images/x/source');
    expect(runner.lines()).toEqual(['qemu-img info --output=json /data/images/x/source']);
  });

  it('refuses paths qemu-img would interpret (protocols, option commas, relative, ..)', () => {
    for (const bad of ['nbd:host:1', 'rel/path', '/a,b', '/a/../etc/shadow', '/x:y', '/a b']) {
      expect(() => assertSafePath(bad), bad).toThrow(/refusing/);
    }
    expect(() => assertSafePath('/tmp/ggnet-test-Ab12/images/x/source')).not.toThrow();
  });

  it('builds a whole-disk conversion: -p, -m, -W, explicit source format, -O raw', () => {
    expect(convertArgs({ source: '/s', format: 'vhdx', dest: '/d' })).toEqual([
      'convert',
      '-p',
      '-m',
      '16',
      '-W',
      '-f',
      'vhdx',
      '-O',
      'raw',
      '/s',
      '/d',
    ]);
    expect(
      convertArgs({ source: '/s', format: 'vpc', dest: '/d', coroutines: 99, outOfOrder: false }),
    ).toEqual(['convert', '-p', '-m', '16', '-f', 'vpc', '-O', 'raw', '/s', '/d']);
  });

  it('builds a window conversion: raw offset/size over the format node, in place into the sparse dest', () => {
    expect(
      convertArgs({
        source: '/s',
        format: 'qcow2',
        dest: '/d',
        window: { offset: 1048576, length: 2097152 },
      }),
    ).toEqual([
      'convert',
      '-p',
      '-m',
      '16',
      '-W',
      '-n',
      '--target-is-zero',
      '--image-opts',
      'driver=raw,offset=1048576,size=2097152,file.driver=qcow2,file.file.driver=file,file.file.filename=/s',
      '--target-image-opts',
      'driver=raw,offset=1048576,size=2097152,file.driver=file,file.filename=/d',
    ]);
    expect(
      convertArgs({ source: '/s', format: 'raw', dest: '/d', window: { offset: 0, length: 512 } })[8],
    ).toBe('driver=raw,offset=0,size=512,file.driver=file,file.filename=/s');
    expect(() => convertArgs({ source: '/s', format: 'qcow2;rm', dest: '/d' })).toThrow(
      /invalid image format/,
    );
    expect(() =>
      convertArgs({ source: '/s', format: 'raw', dest: '/d', window: { offset: -1, length: 5 } }),
    ).toThrow(/invalid conversion window/);
  });

  it('converts through setpriv --pdeathsig so that qemu-img dies with the worker, and streams progress', async () => {
    const runner = new FakeProcessRunner().on('setpriv', {
      streamStdout: ['    (0.00/100%)\r    (33', '.33/100%)\r    (100.00/100%)\r'],
    });
    const q = new RealQemuImg(runner, { dieWithParent: true });
    const seen: number[] = [];
    await q.convert({ source: '/s', format: 'vdi', dest: '/d', onProgress: (p) => seen.push(p) });
    expect(seen).toEqual([0, 33.33, 100]);
    expect(runner.calls[0]!.args.slice(0, 5)).toEqual(['--pdeathsig', 'KILL', '--', 'qemu-img', 'convert']);
    expect(runner.calls[0]!.opts.onStdout).toBeTypeOf('function');
  });

  it('maps check exit codes: 0 clean, 2 corruptions, 3 leaks only, 63 unsupported; skips raw/vpc', async () => {
    const runner = new FakeProcessRunner()
      .on((c) => c.args.at(-1) === '/corrupt', {
        exitCode: 2,
        stdout: JSON.stringify({ corruptions: 6, 'check-errors': 0 }),
        stderr: 'qemu-img: VHDX BAT entry 2 points after end of file\n',
      })
      .on((c) => c.args.at(-1) === '/leaky', { exitCode: 3, stdout: JSON.stringify({ leaks: 4 }) })
      .on((c) => c.args.at(-1) === '/nocheck', { exitCode: 63 });
    const q = new RealQemuImg(runner);
    expect(await q.check('/corrupt', 'vhdx')).toMatchObject({
      supported: true,
      corruptions: 6,
      message: 'VHDX BAT entry 2 points after end of file',
    });
    expect(await q.check('/leaky', 'qcow2')).toMatchObject({
      supported: true,
      corruptions: 0,
      leaks: 4,
      message: null,
    });
    expect(await q.check('/nocheck', 'vdi')).toMatchObject({ supported: false });
    expect(await q.check('/x', 'vpc')).toMatchObject({ supported: false });
    expect(await q.check('/x', 'raw')).toMatchObject({ supported: false });
    expect(runner.lines()).toEqual([
      'qemu-img check --output=json -f vhdx /corrupt',
      'qemu-img check --output=json -f qcow2 /leaky',
      'qemu-img check --output=json -f vdi /nocheck',
    ]);
  });

  it("turns a failed run into qemu-img's own last message", () => {
    const err = new ProcessError(
      'qemu-img',
      [],
      'exit',
      1,
      "qemu-img: Could not open 'x': Invalid argument\n",
      '',
    );
    expect(qemuMessage(err)).toBe("Could not open 'x': Invalid argument");
    expect(qemuMessage(new ProcessError('qemu-img', [], 'aborted', null, '', ''))).toMatch(/cancelled/);
  });
});
