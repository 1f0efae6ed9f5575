import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeWakeOnLan } from '../../adapters/wol/wol.fake.js';
import { WakeQueue, type WakeItem } from './wake-queue.js';

const dest = { broadcast: '10.0.0.255', port: 9, sourceAddress: '10.0.0.1' };
const item = (n: number, intervalMs: number, d = dest): WakeItem => ({
  machineId: `m${n}`,
  mac: `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`,
  dest: d,
  intervalMs,
  by: 'test',
  scheduleId: null,
});

function world() {
  let clock = 1_000_000;
  const wol = new FakeWakeOnLan(() => clock);
  const sent: string[] = [];
  const q = new WakeQueue({
    wol,
    log: pino({ level: 'silent' }),
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    onSent: async (it) => {
      sent.push(it.machineId);
    },
  });
  return { q, wol, sent, start: clock };
}

describe('WakeQueue', () => {
  it('sends one packet per MAC at the configured pace (20/s: 50 ms apart)', async () => {
    const { q, wol, sent, start } = world();
    const r = q.push([1, 2, 3, 4, 5].map((n) => item(n, 50)));
    expect(r).toEqual({ queued: 5, etaMs: 200 });
    await q.drain();
    expect(wol.sent.map((p) => p.at - start)).toEqual([0, 50, 100, 150, 200]);
    expect(sent).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(wol.sent[2]!.bytes.toString('hex')).toBe('ff'.repeat(6) + '525400000003'.repeat(16));
  });

  it('keeps one pace across requests and does not queue a waiting MAC twice', async () => {
    const { q, wol, start } = world();
    q.push([item(1, 100), item(2, 100)]);
    const second = q.push([item(2, 100), item(3, 100)]);
    expect(second.queued).toBe(1);
    await q.drain();
    expect(wol.sent.map((p) => [p.mac.slice(-2), p.at - start])).toEqual([
      ['01', 0],
      ['02', 100],
      ['03', 200],
    ]);
  });

  it('drops the packets of a destination whose socket cannot open and goes on with the others', async () => {
    const { q, wol } = world();
    wol.failNext = new Error('EADDRNOTAVAIL');
    const other = { ...dest, broadcast: '10.1.0.255' };
    q.push([item(1, 10), item(2, 10), item(3, 10, other)]);
    await q.drain();
    expect(wol.sent.map((p) => [p.mac.slice(-2), p.dest.broadcast])).toEqual([['03', '10.1.0.255']]);
  });
});
