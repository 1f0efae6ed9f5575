import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tgtSocketPath } from '../../src/adapters/iscsi/tgt-daemon.js';
import { TGT_MODE as M, TGT_OP as O, tgtIpc } from '../../src/adapters/iscsi/tgt-ipc.js';
import { freeControlPort, freePort, killTgtd, tool } from '../helpers/iscsi.js';
import { tgtShowTargets } from '@ggnet/testkit';

/**
 * tgtd's management socket under a boot storm: tgtd listens with a small backlog (32) and answers one
 * request at a time, so hundreds of connects at once used to fail with EAGAIN ("session start failed"
 * for a storm of 200 machines, found by bench/boot-storm.bench.ts). Every request must be answered.
 */
describe('tgtd management socket (real tgtd)', () => {
  let tgtd: ChildProcess;
  let controlPort: number;

  beforeAll(async () => {
    controlPort = freeControlPort();
    const portal = await freePort();
    tgtd = spawn('tgtd', ['-f', '-C', String(controlPort), '--iscsi', `portal=127.0.0.1:${portal}`], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i++) {
      const r = await tool('tgtadm', ['-C', String(controlPort), '--op', 'show', '--mode', 'sys']);
      if (r.exitCode === 0) return;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    throw new Error('tgtd did not start');
  });

  afterAll(async () => {
    await killTgtd(controlPort, tgtd?.pid ?? null);
  });

  it('answers 400 requests sent at the same moment (no EAGAIN from a full backlog)', async () => {
    const sock = tgtSocketPath(controlPort);
    const results = await Promise.allSettled(
      Array.from({ length: 400 }, () => tgtIpc(sock, { mode: M.system, op: O.show })),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed.map((r) => String(r.reason)).slice(0, 3)).toEqual([]);
    for (const r of results) expect((r as PromiseFulfilledResult<string>).value).toMatch(/System:/);
  });

  it('creates 150 targets requested at once, each exactly once', async () => {
    const sock = tgtSocketPath(controlPort);
    await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        tgtIpc(sock, {
          mode: M.target,
          op: O.new,
          lld: 'iscsi',
          tid: i + 1,
          params: `targetname=iqn.2024-01.test.ggnet:storm-${i + 1}`,
        }),
      ),
    );
    const show = await tgtShowTargets(controlPort);
    const names = [...show.matchAll(/^Target \d+: (\S+)$/gm)].map((m) => m[1]);
    expect(new Set(names).size).toBe(150);
  });
});
