import { afterEach, describe, expect, it, vi } from 'vitest';
import { api } from '../api/client';
import { fakeFetch } from '../test/render';
import { formatRelative } from './format';
import { ServerClock, serverClock } from './server-clock';

const httpDate = (ms: number) => new Date(ms).toUTCString();

afterEach(() => vi.unstubAllGlobals());

describe('ServerClock', () => {
  it('is the local clock until an answer was seen', () => {
    const c = new ServerClock(() => 1_000_000);
    expect(c.offset()).toBe(0);
    expect(c.now()).toBe(1_000_000);
    c.observe(null, 0, 10);
    c.observe('not a date', 0, 10);
    expect(c.offset()).toBe(0);
  });

  it('narrows the offset from the Date headers (whole seconds) of several answers', () => {
    const skew = 123_456; // the server is 2 min 3.456 s ahead
    let local = Date.parse('2026-11-25T10:00:00.000Z');
    const c = new ServerClock(() => local);
    // answers with a 40 ms round trip, sent at different fractions of a second
    for (let i = 0; i < 12; i++) {
      const sent = local + i * 1337;
      const answeredServer = sent + 20 + skew;
      c.observe(httpDate(Math.floor(answeredServer / 1000) * 1000), sent, sent + 40);
    }
    expect(Math.abs(c.offset() - skew)).toBeLessThanOrEqual(40);
    local += 5000;
    expect(Math.abs(c.now() - (local + skew))).toBeLessThanOrEqual(40);
  });

  it('one answer already puts the offset within half a second and half the round trip', () => {
    const c = new ServerClock();
    const sent = Date.parse('2026-11-25T10:00:00.300Z');
    // the server's clock is 1 h behind; it answered at 09:00:00.310
    c.observe(httpDate(Date.parse('2026-11-25T09:00:00.000Z')), sent, sent + 20);
    expect(Math.abs(c.offset() - -3_600_000)).toBeLessThanOrEqual(500 + 10);
  });

  it('starts again when a clock was stepped (the bounds no longer meet)', () => {
    const c = new ServerClock();
    const t = Date.parse('2026-11-25T10:00:00.000Z');
    c.observe(httpDate(t), t, t + 10);
    expect(Math.abs(c.offset())).toBeLessThanOrEqual(500);
    // the PC's clock was set back by a day
    const t2 = t + 60_000 - 86_400_000;
    c.observe(httpDate(t + 60_000), t2, t2 + 10);
    expect(Math.abs(c.offset() - 86_400_000)).toBeLessThanOrEqual(500);
  });

  it('api() reads the Date header of every answer', async () => {
    const ahead = 5 * 60_000;
    vi.stubGlobal(
      'fetch',
      fakeFetch([
        ['GET /api/v1/machines', 200, { items: [], total: 0 }, { date: httpDate(Date.now() + ahead) }],
      ]).fn,
    );
    await api('/machines');
    expect(Math.abs(serverClock.offset() - ahead)).toBeLessThanOrEqual(1000);
  });
});

describe('formatRelative and the clocks (a session started a moment ago)', () => {
  const T0 = Date.parse('2026-11-25T10:00:00Z');
  const iso = (ms: number) => new Date(ms).toISOString();

  it('never says "in the future": a time just after now is "just now"', () => {
    // the PC's clock is 800 ms behind the server's, or useNow ticked 800 ms ago
    expect(formatRelative(iso(T0 + 800), T0)).toBe('just now');
    // a clock that has not been corrected at all (no Date header seen) still reads sensibly
    expect(formatRelative(iso(T0 + 90_000), T0)).toBe('just now');
    expect(formatRelative(iso(T0), T0)).toBe('just now');
    expect(formatRelative(iso(T0 - 42_000), T0)).toBe('42 s ago');
    expect(formatRelative(iso(T0 - 5 * 60_000), T0)).toBe('5 min ago');
    expect(formatRelative(iso(T0 - 3 * 3_600_000), T0)).toBe('3 h ago');
    expect(formatRelative(null, T0)).toBe('—');
    expect(formatRelative('garbage', T0)).toBe('—');
  });

  it('without a given now it measures against the server clock', () => {
    // the server is 10 minutes ahead of this PC: what it stamped a second ago is 9 min 59 s ahead here
    const ahead = 10 * 60_000;
    const local = Date.now();
    serverClock.observe(httpDate(local + ahead), local - 5, local + 5);
    const stamped = new Date(Date.now() + ahead - 61_000).toISOString();
    expect(formatRelative(stamped)).toBe('1 min ago');
  });
});

describe('ServerClock listeners', () => {
  it('are told when the estimate moves by 100 ms or more, not for every answer', () => {
    const c = new ServerClock();
    const fn = vi.fn();
    const off = c.subscribe(fn);
    const t = Date.parse('2026-11-25T10:00:00.000Z');
    c.observe(httpDate(t + 60_000), t, t + 10);
    expect(fn).toHaveBeenCalledTimes(1);
    // the same answer again narrows nothing
    c.observe(httpDate(t + 60_000), t, t + 10);
    expect(fn).toHaveBeenCalledTimes(1);
    off();
    c.observe(httpDate(t - 60_000), t, t + 10);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});
