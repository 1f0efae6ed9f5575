/**
 * Session-start latency: what a booting machine waits for on the server side, i.e. writeback
 * (copy-on-write disk) + iSCSI target + LUN + ACL + CHAP + database rows, through the real
 * SessionOrchestrator and a real tgtd, for the reflink and copy backends, on a 1 GiB and a 20 GiB
 * version, on the same XFS (reflink=1) filesystem in a loop file. The copy backend is the baseline.
 *
 *   sudo node bench/dist/session-start.js [--runs 100] [--copy-runs-large 10] [--dir /var/tmp]
 *
 * Runs as root (loop mount, tgtd). Version layouts: 1 GiB fully written; 20 GiB with 2 GiB written as
 * 2048 pieces of 1 MiB spread over the disk (many extents: the expensive case for a clone).
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { benchContainer, fmtMs, loopXfs, randomMac, seedVersion, sh, stats, table } from './lib.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    'copy-runs-large': { type: 'string', default: '10' },
    dir: { type: 'string', default: '/var/tmp' },
  },
});
const RUNS = Number(values.runs);
const COPY_RUNS_LARGE = Number(values['copy-runs-large']);

async function main() {
  const fs = await loopXfs(48, values.dir);
  const bench = await benchContainer(join(fs.dir, 'data'));
  const { c, portalPort } = bench;
  try {
    process.stdout.write('seeding versions (1 GiB dense, 20 GiB with 2 GiB in 1 MiB pieces)...\n');
    const small = await seedVersion(c, 'bench-1g', { sizeGiB: 1, chunkMiB: 16, everyMiB: 16 });
    const large = await seedVersion(c, 'bench-20g', { sizeGiB: 20, chunkMiB: 1, everyMiB: 10 });
    const m = await c.machines.create({ name: 'bench-pc', mac: randomMac(), bootImageId: small.imageId });

    // sanity: the target of a started session answers a real initiator
    const probe = await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    const inq = await sh('iscsi-inq', [
      '-i',
      probe.initiatorIqn,
      `iscsi://${probe.chap.username}%${probe.chap.password}@127.0.0.1:${portalPort}/${probe.targetIqn}/1`,
    ]);
    if (!/DIRECT_ACCESS/.test(inq)) throw new Error(`sanity check failed: ${inq}`);
    await c.sessions.stop(probe.sessionId);

    const rows: Array<Record<string, string | number>> = [];
    const results = new Map<string, ReturnType<typeof stats>>();
    for (const backend of ['reflink', 'copy'] as const) {
      await c.settings.update({ storage: { backend } }, 'bench');
      for (const v of [small, large]) {
        const label = v === small ? '1 GiB' : '20 GiB';
        const runs = backend === 'copy' && v === large ? COPY_RUNS_LARGE : RUNS;
        await c.machines.update(m.id, { bootImageId: v.imageId });
        const session: number[] = [];
        const writeback: number[] = [];
        for (let i = 0; i < runs + 2; i++) {
          const t0 = performance.now();
          const info = await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
          const dt = performance.now() - t0;
          await c.sessions.stop(info.sessionId);
          // the writeback alone (clone or copy), without target and database work
          const t1 = performance.now();
          const wb = await c.storage.create({
            machineId: m.id,
            imageId: v.imageId,
            versionId: v.versionId,
            sessionId: null,
            targetId: null,
            lun: 1,
          });
          const dw = performance.now() - t1;
          await c.storage.discard(wb.id);
          if (i >= 2) {
            session.push(dt); // the first two are warm-up
            writeback.push(dw);
          }
        }
        const s = stats(session);
        const w = stats(writeback);
        results.set(`${backend} ${label}`, s);
        rows.push({
          backend,
          version: `${label} (${(v.dataBytes / 1024 ** 3).toFixed(1)} GiB data, ${v.extents} extents)`,
          runs,
          'session p50 ms': fmtMs(s.p50),
          'session p99 ms': fmtMs(s.p99),
          'session max ms': fmtMs(s.max),
          'writeback p50 ms': fmtMs(w.p50),
          'writeback p99 ms': fmtMs(w.p99),
        });
        process.stdout.write(
          `  ${backend} ${label}: p50 ${fmtMs(s.p50)} ms, p99 ${fmtMs(s.p99)} ms (${runs} runs)\n`,
        );
      }
    }
    const r = (k: string) => results.get(k)!;
    process.stdout.write(`\nsession start = writeback + target + LUN + ACL + CHAP + DB rows (real tgtd)\n`);
    process.stdout.write(`${table(rows)}\n\n`);
    process.stdout.write('ratios (baseline = copy, same run, same filesystem):\n');
    for (const size of ['1 GiB', '20 GiB']) {
      const ref = r(`reflink ${size}`);
      const cp = r(`copy ${size}`);
      process.stdout.write(
        `  ${size}: copy/reflink p50 = ${(cp.p50 / ref.p50).toFixed(1)}x, p99 = ${(cp.p99 / ref.p99).toFixed(1)}x\n`,
      );
    }
    const flat = r('reflink 20 GiB').p99 / r('reflink 1 GiB').p99;
    process.stdout.write(
      `  reflink 20 GiB / 1 GiB p99 = ${flat.toFixed(2)}x (flat in image size); goal reflink p99 <= 100 ms: ${
        r('reflink 20 GiB').p99 <= 100 && r('reflink 1 GiB').p99 <= 100 ? 'met' : 'NOT met'
      }\n`,
    );
  } finally {
    await bench.close();
    await fs.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
