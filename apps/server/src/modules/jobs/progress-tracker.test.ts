import { describe, expect, it } from 'vitest';
import { ProgressTracker } from './progress-tracker.js';

describe('ProgressTracker', () => {
  it('computes percent, bytes/s and ETA from byte counts', () => {
    let now = 0;
    const t = new ProgressTracker(() => now, 500, 1);
    expect(t.update({ bytesDone: 0, bytesTotal: 1000, stage: 'converting' })).toMatchObject({
      percent: 0,
      bytesPerSec: null,
      etaSec: null,
      stage: 'converting',
    });
    now = 1000;
    expect(t.update({ bytesDone: 100 })).toMatchObject({
      percent: 10,
      bytesPerSec: 100,
      etaSec: 9,
      bytesTotal: 1000,
    });
    now = 2000;
    expect(t.update({ bytesDone: 300 })).toMatchObject({ percent: 30, bytesPerSec: 200, etaSec: 4 });
    now = 2100; // too soon for a new rate sample: the rate holds, the ETA follows the bytes
    expect(t.update({ bytesDone: 400 })).toMatchObject({ percent: 40, bytesPerSec: 200, etaSec: 3 });
  });

  it('smooths the rate so one burst does not swing the ETA', () => {
    let now = 0;
    const t = new ProgressTracker(() => now, 500, 0.3);
    t.update({ bytesDone: 0, bytesTotal: 10_000 });
    now = 1000;
    t.update({ bytesDone: 100 });
    now = 2000;
    const p = t.update({ bytesDone: 1100 }); // a 1000 B/s burst after 100 B/s
    expect(p.bytesPerSec).toBe(Math.round(100 + 0.3 * (1000 - 100)));
  });

  it('works from percentages alone, and says 0 s left at 100 %', () => {
    let now = 0;
    const t = new ProgressTracker(() => now, 500, 1);
    t.update({ percent: 0 });
    now = 2000;
    expect(t.update({ percent: 20 })).toMatchObject({
      percent: 20,
      bytesPerSec: null,
      etaSec: 8,
      bytesDone: null,
    });
    expect(t.update({ percent: 150 })).toMatchObject({ percent: 100, etaSec: 0 });
  });
});
