import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { TgtDriver } from './tgt.adapter.js';
import { TgtPool, chooseDaemon, daemonPortalPort } from './tgt-pool.js';

const score = (k: string) => createHash('sha256').update(k).digest().readUIntBE(0, 6);
const all = (n: number) => Array.from({ length: n }, () => true);

describe('chooseDaemon', () => {
  it('keeps a machine on the same daemon while loads are even', () => {
    const load = [5, 5, 5, 5];
    for (const m of ['pc-1', 'pc-2', 'pc-3', 'pc-4', 'pc-5']) {
      const first = chooseDaemon(m, load, all(4), score);
      expect(chooseDaemon(m, [5, 6, 5, 4], all(4), score)).toBe(first);
    }
  });

  it('spreads machines: a daemon carries at most max(2, 10% of the mean) + 1 above the least loaded', () => {
    const load = [0, 0, 0, 0];
    for (let i = 0; i < 200; i++) {
      load[chooseDaemon(`m${i}`, load, all(4), score)!]!++;
      const slack = Math.max(2, Math.ceil((0.1 * (i + 1)) / 4));
      expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(slack + 1);
    }
    expect(load.every((n) => n > 0)).toBe(true);
  });

  it('never picks a daemon that is not usable (a conflict), null when none is', () => {
    for (let i = 0; i < 50; i++)
      expect(chooseDaemon(`m${i}`, [0, 0, 0], [false, true, false], score)).toBe(1);
    expect(chooseDaemon('m', [0, 0], [false, false], score)).toBeNull();
  });

  it('daemon i listens on the base portal port + i', () => {
    expect(daemonPortalPort(3260, 0)).toBe(3260);
    expect(daemonPortalPort(3260, 3)).toBe(3263);
  });
});

describe('TgtPool', () => {
  it('sends every step of a target to its daemon and moves each portal to base + i', async () => {
    const runner = new FakeProcessRunner();
    const drivers = [7300, 7301].map((p) => new TgtDriver(runner, p, { transport: 'tgtadm' }));
    const pool = new TgtPool(drivers);
    pool.place('iqn.2024-01.lan.ggnet:pc-1', 1);
    await pool.createTarget('iqn.2024-01.lan.ggnet:pc-1');
    await pool.ensurePortal('10.0.0.1', 3260);
    const lines = runner.lines();
    expect(lines[0]).toBe(
      'tgtadm -C 7301 --lld iscsi --op new --mode target --tid 1 --targetname iqn.2024-01.lan.ggnet:pc-1',
    );
    expect(lines.filter((l) => l.includes('--op new --mode portal')).sort()).toEqual([
      'tgtadm -C 7300 --lld iscsi --op new --mode portal --param portal=10.0.0.1:3260',
      'tgtadm -C 7301 --lld iscsi --op new --mode portal --param portal=10.0.0.1:3261',
    ]);
    expect(() => pool.place('x', 2)).toThrow(/no daemon 2/);
  });
});
