/**
 * Sequential read through the iSCSI target (GGnet's tgtd, a session's writeback over loopback) vs a
 * local read of the same file, same tool (qemu-img bench, 1 MiB requests, queue depth 16), same run;
 * plus libiscsi's iscsi-perf for a second opinion. The file is in the page cache for both (warmed
 * first), so the figures compare the iSCSI path (tgtd + TCP + initiator) with a plain read.
 *
 *   npm run bench:iscsi-read -- [--size-gib 1] [--reps 5] [--dir /var/tmp]   (as root)
 */
import { parseArgs } from 'node:util';
import { iscsiPerf } from '@ggnet/testkit';
import { benchOnXfs, randomMac, seedVersion, sh, table } from './iscsi-lib.js';

const { values } = parseArgs({
  options: {
    'size-gib': { type: 'string', default: '1' },
    reps: { type: 'string', default: '5' },
    dir: { type: 'string', default: '/var/tmp' },
  },
});
const SIZE_GIB = Number(values['size-gib']);
const REPS = Number(values.reps);
const MiB = 1024 ** 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function qemuBench(args: string[], count: number): Promise<number> {
  const out = await sh('qemu-img', ['bench', '-c', String(count), '-s', '1M', '-d', '16', ...args]);
  const secs = Number(/Run completed in ([\d.]+) seconds/.exec(out)?.[1]);
  if (!secs) throw new Error(`qemu-img bench: ${out}`);
  return (count * MiB) / secs / 1e6; // MB/s
}

async function main() {
  const bench = await benchOnXfs(SIZE_GIB * 2 + 2, values.dir);
  const { c, portalPort } = bench;
  try {
    const v = await seedVersion(c, 'read-bench', { sizeGiB: SIZE_GIB, chunkMiB: 16, everyMiB: 16 });
    const m = await c.machines.create({ name: 'read-pc', mac: randomMac(), bootImageId: v.imageId });
    const info = await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    const s = await c.sessions.get(info.sessionId);
    const wb = await c.repos.writebacks.findById(s.writebackId!);
    const file = c.imageFiles.inside(wb!.path);
    const count = (SIZE_GIB * 1024) | 0;
    const opts = [
      'driver=iscsi',
      'transport=tcp',
      `portal=127.0.0.1:${portalPort}`,
      `target=${info.targetIqn}`,
      'lun=1',
      `initiator-name=${info.initiatorIqn}`,
      `user=${info.chap.username}`,
      `password=${info.chap.password}`,
    ].join(',');
    await qemuBench(['-f', 'raw', file], count); // warm the page cache
    const local: number[] = [];
    const iscsi: number[] = [];
    for (let i = 0; i < REPS; i++) {
      local.push(await qemuBench(['-f', 'raw', file], count));
      iscsi.push(await qemuBench(['--image-opts', opts], count));
    }
    const url = `iscsi://${info.chap.username}%${info.chap.password}@127.0.0.1:${portalPort}/${info.targetIqn}/1`;
    const perf = await iscsiPerf(url, info.initiatorIqn, 6, 2048);
    const l = median(local);
    const n = median(iscsi);
    process.stdout.write(
      `sequential read of a ${SIZE_GIB} GiB writeback (page cache warm), median of ${REPS}\n`,
    );
    process.stdout.write(
      `${table([
        {
          path: 'local file (qemu-img bench, 1 MiB x qd16)',
          'MB/s': l.toFixed(0),
          runs: local.map((x) => x.toFixed(0)).join(' '),
        },
        {
          path: 'iSCSI via tgtd (qemu-img bench, 1 MiB x qd16)',
          'MB/s': n.toFixed(0),
          runs: iscsi.map((x) => x.toFixed(0)).join(' '),
        },
        { path: 'iSCSI via tgtd (iscsi-perf, 1 MiB x 16, 6 s)', 'MB/s': perf.toFixed(0), runs: '-' },
      ])}\n\n`,
    );
    process.stdout.write(`ratio iSCSI / local (qemu-img bench): ${(n / l).toFixed(2)}\n`);
    await c.sessions.stop(info.sessionId);
  } finally {
    await bench.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
