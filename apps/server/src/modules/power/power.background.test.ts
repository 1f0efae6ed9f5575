import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { PowerScheduler } from './power.background.js';
import type { PowerSchedules } from './schedules.service.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = pino({ level: 'silent' });

function fakeSchedules(opts: { failFirst?: boolean; nextDue: () => number | null }) {
  const ticks: number[] = [];
  let fail = opts.failFirst ?? false;
  const schedules = {
    tick: async () => {
      ticks.push(Date.now());
      if (fail) {
        fail = false;
        throw new Error('database away');
      }
      return [];
    },
    nextDue: async () => opts.nextDue(),
  } as unknown as PowerSchedules;
  return { ticks, schedules };
}

describe('PowerScheduler', () => {
  it('ticks at start, goes on after a failing tick, and stops for good', async () => {
    const { ticks, schedules } = fakeSchedules({ failFirst: true, nextDue: () => null });
    const s = new PowerScheduler(schedules, log, 100);
    s.start();
    await sleep(450);
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    await s.stop();
    const stopped = ticks.length;
    await sleep(300);
    expect(ticks.length).toBe(stopped);
  });

  it('looks again at the next slot when it comes before the longest wait', async () => {
    // the next slot is always 1 ms ahead: the loop waits its minimum (250 ms), not 60 s
    const { ticks, schedules } = fakeSchedules({ nextDue: () => Date.now() + 1 });
    const s = new PowerScheduler(schedules, log, 60_000);
    s.start();
    await sleep(700);
    await s.stop();
    expect(ticks.length).toBeGreaterThanOrEqual(2);
  });
});
