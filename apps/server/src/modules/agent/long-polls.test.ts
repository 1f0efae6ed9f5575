import { describe, expect, it } from 'vitest';
import { LongPolls } from './long-polls.js';

const settled = async (p: Promise<unknown>) => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setTimeout(r, 5));
  return done;
};

describe('LongPolls', () => {
  it('a wait ends by wake, by a newer wait of its key, by abort or by its timeout; waiting keys are known', async () => {
    const lp = new LongPolls(10);
    const a = lp.wait('s1', 60_000, new AbortController().signal);
    expect(lp.has('s1')).toBe(true);
    expect(await settled(a)).toBe(false);
    lp.wake('s1');
    expect(await settled(a)).toBe(true);
    expect(lp.has('s1')).toBe(false);

    const older = lp.wait('s1', 60_000, new AbortController().signal);
    const newer = lp.wait('s1', 60_000, new AbortController().signal);
    expect(await settled(older)).toBe(true);
    expect(await settled(newer)).toBe(false);
    expect(lp.size).toBe(1);

    const ac = new AbortController();
    const aborted = lp.wait('s2', 60_000, ac.signal);
    ac.abort();
    expect(await settled(aborted)).toBe(true);
    expect(await settled(lp.wait('s3', 1, new AbortController().signal))).toBe(true);
    lp.wakeAll();
    expect(await settled(newer)).toBe(true);
    expect(lp.size).toBe(0);
  });

  it('over the limit a wait returns at once (bounded work per server)', async () => {
    const lp = new LongPolls(2);
    const s = new AbortController().signal;
    void lp.wait('a', 60_000, s);
    void lp.wait('b', 60_000, s);
    expect(await settled(lp.wait('c', 60_000, s))).toBe(true);
    expect(lp.has('c')).toBe(false);
    lp.wakeAll();
  });
});
