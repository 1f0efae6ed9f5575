import type { JobProgress } from '@ggnet/contracts';
import type { ProgressUpdate } from './job-types.js';

/**
 * Turns a handler's byte counts (or percentages) into what users want to see: percent, bytes/s and
 * ETA. The rate is an exponential moving average over samples at least `minSampleMs` apart, so one
 * stall or burst does not swing the ETA.
 */
export class ProgressTracker {
  private last: { t: number; done: number } | null = null;
  private rate: number | null = null;
  private current: JobProgress | null = null;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly minSampleMs = 500,
    private readonly smoothing = 0.3,
  ) {}

  get value(): JobProgress | null {
    return this.current;
  }

  update(p: ProgressUpdate): JobProgress {
    const t = this.now();
    const total = p.bytesTotal ?? this.current?.bytesTotal ?? null;
    let percent: number;
    let done: number | null = p.bytesDone ?? null;
    if (done !== null && total) percent = (done / total) * 100;
    else percent = p.percent ?? this.current?.percent ?? 0;
    percent = Math.max(0, Math.min(100, percent));
    // without byte counts, progress is measured in "percent points" and converted back with the total
    const unitDone = done ?? (total ? (percent / 100) * total : percent);
    if (done === null && total) done = Math.round(unitDone);

    if (!this.last) {
      this.last = { t, done: unitDone };
    } else if (t - this.last.t >= this.minSampleMs) {
      const sample = ((unitDone - this.last.done) * 1000) / (t - this.last.t);
      if (sample >= 0)
        this.rate = this.rate === null ? sample : this.rate + this.smoothing * (sample - this.rate);
      this.last = { t, done: unitDone };
    }
    const remaining = total !== null ? total - unitDone : 100 - percent;
    const etaSec = this.rate && this.rate > 0 ? Math.max(0, Math.round(remaining / this.rate)) : null;
    this.current = {
      percent: Math.round(percent * 100) / 100,
      bytesDone: done,
      bytesTotal: total,
      bytesPerSec: total !== null && this.rate !== null ? Math.round(this.rate) : null,
      etaSec: percent >= 100 ? 0 : etaSec,
      stage: p.stage ?? this.current?.stage ?? null,
    };
    return this.current;
  }
}
