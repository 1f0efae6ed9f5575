import { describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { ImageFiles } from './image-files.js';
import { ZfsWritebackStorage } from './zfs.adapter.js';

// ZFS cannot run on the CI machine: these tests pin the exact command sequences.

const V = '11111111-1111-4111-8111-111111111111';
const IMG = '22222222-2222-4222-8222-222222222222';
const WB = '33333333-3333-4333-8333-333333333333';
const files = new ImageFiles('/var/lib/ggnet');
const version = {
  id: V,
  imageId: IMG,
  path: `images/${IMG}/versions/${V}.raw`,
  sizeBytes: 20 * 1024 ** 3 + 512,
};

const make = (r: FakeProcessRunner) =>
  new ZfsWritebackStorage('tank/ggnet', files, r, { deviceExists: () => true });

describe('ZfsWritebackStorage', () => {
  it('imports a version once (sparse zvol, qemu-img, snapshot), then clones it per writeback', async () => {
    let snapshotDone = false;
    const r = new FakeProcessRunner()
      .on(
        (c) => c.command === 'zfs' && c.args[0] === 'list',
        (c) => ({ exitCode: c.args.includes(`tank/ggnet/versions/${V}@base`) && snapshotDone ? 0 : 1 }),
      )
      .on(
        (c) => c.command === 'zfs' && c.args[0] === 'snapshot',
        () => {
          snapshotDone = true;
          return {};
        },
      );
    const z = make(r);
    expect(await z.create(version, WB)).toBe(`tank/ggnet/writebacks/${WB}`);
    expect(r.lines()).toEqual([
      `zfs list -H -o name tank/ggnet/versions/${V}@base`,
      `zfs list -H -o name tank/ggnet/versions/${V}`,
      // rounded up to whole MiB (a volume size must be a multiple of its block size)
      `zfs create -p -s -V ${20 * 1024 ** 3 + 1024 ** 2} -o volblocksize=16K -o volmode=dev tank/ggnet/versions/${V}`,
      `qemu-img convert -n -f raw -O raw /var/lib/ggnet/images/${IMG}/versions/${V}.raw /dev/zvol/tank/ggnet/versions/${V}`,
      `zfs snapshot tank/ggnet/versions/${V}@base`,
      `zfs clone -p -o volmode=dev tank/ggnet/versions/${V}@base tank/ggnet/writebacks/${WB}`,
    ]);
    const n = r.calls.length;
    const wb2 = '44444444-4444-4444-8444-444444444444';
    await z.create(version, wb2);
    expect(r.lines().slice(n)).toEqual([
      `zfs list -H -o name tank/ggnet/versions/${V}@base`,
      `zfs clone -p -o volmode=dev tank/ggnet/versions/${V}@base tank/ggnet/writebacks/${wb2}`,
    ]);
    expect(z.blockPath(`tank/ggnet/writebacks/${wb2}`)).toBe(`/dev/zvol/tank/ggnet/writebacks/${wb2}`);
  });

  it('destroys writebacks idempotently and reads used bytes, space and the list', async () => {
    const r = new FakeProcessRunner()
      .on((c) => c.args[0] === 'destroy', { exitCode: 1, stderr: "cannot open 'x': dataset does not exist" })
      .on((c) => c.args[0] === 'get' && c.args.includes('used'), { stdout: '1048576\n' })
      .on((c) => c.args[0] === 'get', { stdout: '1000\n9000\n' })
      .on((c) => c.args[0] === 'list', {
        stdout: `tank/ggnet/writebacks\t1700000000\ntank/ggnet/writebacks/${WB}\t1700000001\n`,
      });
    const z = make(r);
    await z.remove(`tank/ggnet/writebacks/${WB}`);
    expect(await z.usedBytes(`tank/ggnet/writebacks/${WB}`)).toBe(1048576);
    expect(await z.space()).toEqual({ totalBytes: 10000, freeBytes: 9000 });
    expect(await z.list()).toEqual([
      { ref: `tank/ggnet/writebacks/${WB}`, writebackId: WB, mtimeMs: 1700000001000 },
    ]);
    expect(r.lines()).toEqual([
      `zfs destroy -r tank/ggnet/writebacks/${WB}`,
      `zfs get -Hp -o value used tank/ggnet/writebacks/${WB}`,
      'zfs get -Hp -o value used,available tank/ggnet',
      'zfs list -H -p -o name,creation -t volume -r tank/ggnet/writebacks',
    ]);
  });

  it('exports a running writeback through a snapshot clone, and a finished one directly', async () => {
    const r = new FakeProcessRunner();
    const z = make(r);
    await z.exportTo(`tank/ggnet/writebacks/${WB}`, '/var/lib/ggnet/images/x/.apply.raw', 'snapshot');
    const snap = r.lines();
    expect(snap[0]).toMatch(new RegExp(`^zfs snapshot tank/ggnet/writebacks/${WB}@apply-\\d+$`));
    expect(snap[1]).toMatch(
      new RegExp(
        `^zfs clone -o volmode=dev tank/ggnet/writebacks/${WB}@apply-\\d+ tank/ggnet/writebacks/${WB}-apply-\\d+$`,
      ),
    );
    expect(snap[2]).toMatch(
      new RegExp(
        `^qemu-img convert -f raw -O raw /dev/zvol/tank/ggnet/writebacks/${WB}-apply-\\d+ /var/lib/ggnet/images/x/.apply.raw$`,
      ),
    );
    expect(snap[3]).toMatch(new RegExp(`^zfs destroy tank/ggnet/writebacks/${WB}-apply-\\d+$`));
    expect(snap).toHaveLength(4);
    const n = r.calls.length;
    await z.exportTo(`tank/ggnet/writebacks/${WB}`, '/var/lib/ggnet/images/x/.apply.raw', 'move');
    expect(r.lines().slice(n)).toEqual([
      `qemu-img convert -f raw -O raw /dev/zvol/tank/ggnet/writebacks/${WB} /var/lib/ggnet/images/x/.apply.raw`,
      `zfs destroy -r tank/ggnet/writebacks/${WB}`,
    ]);
  });

  it('refuses dataset names and references outside its dataset', () => {
    expect(() => new ZfsWritebackStorage('tank/../x', files, new FakeProcessRunner())).toThrow(
      /invalid ZFS dataset/,
    );
    expect(() => new ZfsWritebackStorage('tank;rm', files, new FakeProcessRunner())).toThrow(
      /invalid ZFS dataset/,
    );
    const z = make(new FakeProcessRunner());
    expect(() => z.blockPath('tank/other/x')).toThrow(/not a writeback dataset/);
    expect(() => z.blockPath(`tank/ggnet/writebacks/${WB}/../../x`)).toThrow(/not a writeback dataset/);
  });
});
