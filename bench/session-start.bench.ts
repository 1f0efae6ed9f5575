/**
 * Session-start latency: what a booting machine waits for on the server side, i.e. writeback
 * (copy-on-write disk) + iSCSI target + LUN + ACL + CHAP + database rows, through the real
 * SessionOrchestrator and a real tgtd, on a 1 GiB and a 20 GiB version, on the same XFS (reflink=1)
 * filesystem in a loop file:
 *   reflink, spare clone ready   (default: storage.spareClones = 4; a boot renames a ready clone)
 *   reflink, no spare            (storage.spareClones = 0, or a boot storm that drained the pool)
 *   copy                         (the baseline: a full sparse-aware copy per boot)
 * plus a boot storm: N machines starting at the same moment on the 20 GiB version.
 *
 *   npm run bench:session-start -- [--runs 100] [--copy-runs-large 10] [--storm 20] [--dir /var/tmp]   (as root)
 *
 * Runs as root (loop mount, tgtd). Version layouts: 1 GiB fully written; 20 GiB with 2 GiB written as
 * 2048 pieces of 1 MiB spread over the disk (thousands of extents: the expensive case for a clone).
 */
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { benchOnXfs, fmtMs, randomMac, seedVersion, sh, stats, table } from './iscsi-lib.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    'copy-runs-large': { type: 'string', default: '10' },
    storm: { type: 'string', default: '20' },
    dir: { type: 'string', default: '/var/tmp' },
  },
});
const RUNS = Number(values.runs);
const COPY_RUNS_LARGE = Number(values['copy-runs-large']);
const STORM = Number(values.storm);

type Mode = 'reflink+spare' | 'reflink' | 'copy';

async function main() {
  const bench = await benchOnXfs(48, values.dir);
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
    // the noise floor of this machine: how late the event loop runs (CPU contention, GC), same run
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const load0 = loadavg()[0]!;
    const modes: Mode[] = ['reflink+spare', 'reflink', 'copy'];
    for (const mode of modes) {
      await c.settings.update(
        {
          storage: {
            backend: mode === 'copy' ? 'copy' : 'reflink',
            spareClones: mode === 'reflink+spare' ? 2 : 0,
          },
        },
        'bench',
      );
      await c.storage.reconcileSpares();
      await c.storage.idle();
      for (const v of [small, large]) {
        const label = v === small ? '1 GiB' : '20 GiB';
        const runs = mode === 'copy' && v === large ? COPY_RUNS_LARGE : RUNS;
        await c.machines.update(m.id, { bootImageId: v.imageId });
        await c.storage.reconcileSpares();
        await c.storage.idle();
        const session: number[] = [];
        const writeback: number[] = [];
        for (let i = 0; i < runs + 2; i++) {
          const t0 = performance.now();
          const info = await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
          const dt = performance.now() - t0;
          await c.sessions.stop(info.sessionId);
          await c.storage.idle(); // boots spaced apart: the pool is refilled between them
          // the writeback alone (spare, clone or copy), without target and database work
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
          await c.storage.idle();
          if (i >= 2) {
            session.push(dt); // the first two are warm-up
            writeback.push(dw);
          }
        }
        const s = stats(session);
        const w = stats(writeback);
        results.set(`${mode} ${label}`, s);
        rows.push({
          mode,
          version: `${label} (${(v.dataBytes / 1024 ** 3).toFixed(0)} GiB data, ${v.extents} extents)`,
          runs,
          'start p50 ms': fmtMs(s.p50),
          'start p99 ms': fmtMs(s.p99),
          'start max ms': fmtMs(s.max),
          'writeback p50 ms': fmtMs(w.p50),
          'writeback p99 ms': fmtMs(w.p99),
        });
        process.stdout.write(
          `  ${mode} ${label}: p50 ${fmtMs(s.p50)} ms, p99 ${fmtMs(s.p99)} ms (${runs} runs)\n`,
        );
      }
    }

    loop.disable();
    const load1 = loadavg()[0]!;

    // boot storm: STORM machines on the 20 GiB version start at the same moment (reflink), with the
    // default pool (4 spares: most boots clone) and with a pool as large as the storm
    const storm = await Promise.all(
      Array.from({ length: STORM }, (_, i) =>
        c.machines.create({ name: `storm-${i}`, mac: randomMac(), bootImageId: large.imageId }),
      ),
    );
    const storms: string[] = [];
    for (const spares of [4, STORM]) {
      await c.settings.update({ storage: { backend: 'reflink', spareClones: spares } }, 'bench');
      await c.storage.reconcileSpares();
      await c.storage.idle();
      const t0 = performance.now();
      const each = await Promise.all(
        storm.map(async (sm) => {
          const t = performance.now();
          const info = await c.orchestrator.startSession({
            machineId: sm.id,
            mode: 'normal',
            clientIp: null,
          });
          return { ms: performance.now() - t, info };
        }),
      );
      const wall = performance.now() - t0;
      const st = stats(each.map((e) => e.ms));
      for (const e of each) await c.sessions.stop(e.info.sessionId);
      await c.storage.idle();
      storms.push(
        `boot storm: ${STORM} machines at once, 20 GiB version, reflink with ${spares} spares: all started in ${fmtMs(wall)} ms; per start p50 ${fmtMs(st.p50)} ms, p99 ${fmtMs(st.p99)} ms`,
      );
    }

    const r = (k: string) => results.get(k)!;
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    process.stdout.write(
      `\nnoise floor during the runs: event-loop delay p50 ${ms(loop.percentile(50))} ms, p99 ${ms(loop.percentile(99))} ms, max ${ms(loop.max)} ms; load average ${load0.toFixed(1)} -> ${load1.toFixed(1)} on ${cpus().length} CPUs\n`,
    );
    process.stdout.write(
      `\nsession start = writeback + target + LUN + ACL + CHAP + DB rows (real tgtd, SQLite)\n`,
    );
    process.stdout.write(`${table(rows)}\n\n`);
    process.stdout.write('ratios (baseline = copy, same run, same filesystem):\n');
    for (const size of ['1 GiB', '20 GiB']) {
      const cp = r(`copy ${size}`);
      for (const mode of ['reflink+spare', 'reflink']) {
        const x = r(`${mode} ${size}`);
        process.stdout.write(
          `  ${size}: copy / ${mode} p50 = ${(cp.p50 / x.p50).toFixed(1)}x, p99 = ${(cp.p99 / x.p99).toFixed(1)}x\n`,
        );
      }
    }
    for (const mode of ['reflink+spare', 'reflink']) {
      const flat = r(`${mode} 20 GiB`).p99 / r(`${mode} 1 GiB`).p99;
      const met = r(`${mode} 20 GiB`).p99 <= 100 && r(`${mode} 1 GiB`).p99 <= 100;
      process.stdout.write(
        `  ${mode}: 20 GiB / 1 GiB p99 = ${flat.toFixed(2)}x; goal p99 <= 100 ms: ${met ? 'met' : 'NOT met'}\n`,
      );
    }
    process.stdout.write(`\n${storms.join('\n')}\n`);
  } finally {
    await c.storage.idle();
    await bench.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
