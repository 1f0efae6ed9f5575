import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter, OncePerInterval, SlidingWindowCounter } from './rate-limiter.js';

function clock(start = 1_000_000) {
  let t = start;
  const now = () => t;
  now.advance = (ms: number) => (t += ms);
  return now;
}

describe('KeyedRateLimiter', () => {
  it('lets a key burst, then refills at the sustained rate, per key', () => {
    const now = clock();
    const rl = new KeyedRateLimiter(now);
    const limit = { burst: 3, perMinute: 60 }; // one token per second
    expect([1, 2, 3].map(() => rl.take('a', limit).ok)).toEqual([true, true, true]);
    const refused = rl.take('a', limit);
    expect(refused).toEqual({ ok: false, retryAfterMs: 1000 });
    // another key is not affected
    expect(rl.take('b', limit).ok).toBe(true);
    now.advance(500);
    expect(rl.take('a', limit)).toEqual({ ok: false, retryAfterMs: 500 });
    now.advance(500);
    expect(rl.take('a', limit).ok).toBe(true);
    expect(rl.take('a', limit).ok).toBe(false);
    // a long pause fills the bucket up to the burst, not beyond
    now.advance(60_000);
    expect([1, 2, 3, 4].map(() => rl.take('a', limit).ok)).toEqual([true, true, true, false]);
  });

  it('a client that asks at the sustained rate is never refused', () => {
    const now = clock();
    const rl = new KeyedRateLimiter(now);
    const limit = { burst: 2, perMinute: 30 }; // every 2 s
    for (let i = 0; i < 1000; i++) {
      expect(rl.take('pc', limit).ok).toBe(true);
      now.advance(2000);
    }
  });

  it('perMinute 0 switches the limit off; refund gives a token back; reset forgets a key', () => {
    const now = clock();
    const rl = new KeyedRateLimiter(now);
    for (let i = 0; i < 100; i++) expect(rl.take('x', { burst: 1, perMinute: 0 }).ok).toBe(true);
    expect(rl.size).toBe(0);
    const limit = { burst: 1, perMinute: 1 };
    expect(rl.take('x', limit).ok).toBe(true);
    expect(rl.take('x', limit).ok).toBe(false);
    rl.refund('x', limit);
    expect(rl.take('x', limit).ok).toBe(true);
    rl.reset('x');
    expect(rl.take('x', limit).ok).toBe(true);
  });

  it('keeps at most maxKeys buckets: refilled ones go first, then the least recently used', () => {
    const now = clock();
    const rl = new KeyedRateLimiter(now, 100);
    const limit = { burst: 2, perMinute: 60 };
    for (let i = 0; i < 100; i++) rl.take(`k${i}`, limit);
    expect(rl.size).toBe(100);
    now.advance(2000); // all refilled: equivalent to absent
    rl.take('new', limit);
    expect(rl.size).toBe(1);
    // a flood of distinct keys that never refill stays bounded
    for (let i = 0; i < 10_000; i++) rl.take(`flood${i}`, limit);
    expect(rl.size).toBeLessThanOrEqual(100);
  });
});

describe('OncePerInterval', () => {
  it('reports a key once per interval and counts what it suppressed', () => {
    const now = clock();
    const once = new OncePerInterval(60_000, now);
    expect(once.due('mac:a')).toBe(0);
    expect(once.due('mac:a')).toBeNull();
    expect(once.due('mac:a')).toBeNull();
    expect(once.due('mac:b')).toBe(0);
    now.advance(59_999);
    expect(once.due('mac:a')).toBeNull();
    now.advance(1);
    expect(once.due('mac:a')).toBe(3);
    expect(once.due('mac:a')).toBeNull();
  });

  it('stays bounded with many keys', () => {
    const now = clock();
    const once = new OncePerInterval(60_000, now, 50);
    for (let i = 0; i < 1000; i++) expect(once.due(`k${i}`)).toBe(0);
    // the most recent keys are still remembered
    expect(once.due('k999')).toBeNull();
  });
});

describe('SlidingWindowCounter', () => {
  it('counts the events of the last window and says when the oldest leaves it', () => {
    const now = clock();
    const w = new SlidingWindowCounter(3_600_000, now);
    for (let i = 0; i < 3; i++) {
      w.add(10);
      now.advance(1000);
    }
    expect(w.count()).toBe(3);
    expect(w.msUntilSlot()).toBe(3_600_000 - 3000);
    now.advance(3_600_000 - 3000);
    expect(w.count()).toBe(2);
    now.advance(2000);
    expect(w.count()).toBe(0);
    expect(w.msUntilSlot()).toBe(0);
    for (let i = 0; i < 50; i++) w.add(5);
    expect(w.count()).toBe(5);
  });
});
