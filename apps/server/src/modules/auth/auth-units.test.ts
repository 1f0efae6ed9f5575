import { describe, expect, it, vi } from 'vitest';
import type { AppError } from '../../errors/app-error.js';
import { LoginGuard, MAX_WAITING } from './login-guard.js';
import { hashPassword, verifyPassword } from './password.js';
import { RateLimiter } from './rate-limiter.js';

describe('password hashing (scrypt)', () => {
  it('verifies the right password only, with a random salt each time', async () => {
    const h1 = await hashPassword('correct horse');
    const h2 = await hashPassword('correct horse');
    expect(h1).toMatch(/^scrypt\$\d+\$8\$1\$/);
    expect(h1).not.toBe(h2);
    expect(await verifyPassword('correct horse', h1)).toBe(true);
    expect(await verifyPassword('correct horsE', h1)).toBe(false);
    expect(await verifyPassword('correct horse', 'garbage')).toBe(false);
  });
});

describe('RateLimiter', () => {
  it('blocks after the limit until the window ends', () => {
    let now = 0;
    const rl = new RateLimiter(2, 60_000, () => now);
    expect(rl.retryAfter('k')).toBe(0);
    rl.hit('k');
    rl.hit('k');
    expect(rl.retryAfter('k')).toBe(60);
    expect(rl.retryAfter('other')).toBe(0);
    now = 30_000;
    expect(rl.retryAfter('k')).toBe(30);
    now = 60_001;
    expect(rl.retryAfter('k')).toBe(0);
    rl.hit('k');
    rl.reset('k');
    expect(rl.retryAfter('k')).toBe(0);
  });
});

describe('LoginGuard', () => {
  const limits = { perIp: 20, perUser: 5, slowdownAfter: 10, slowdownMs: 1000, windowSec: 60 };
  const status = (fn: () => void) => {
    try {
      fn();
      return 'ok';
    } catch (e) {
      return `${(e as AppError).statusCode} ${(e as AppError).code}`;
    }
  };

  it('limits a user per address: the attacker is paused, the real user from elsewhere is not', () => {
    const now = 0;
    const g = new LoginGuard(limits, () => now);
    for (let i = 0; i < 5; i++) {
      g.admit('admin', '10.66.0.1');
      g.failed('admin', '10.66.0.1');
    }
    expect(status(() => g.admit('admin', '10.66.0.1'))).toBe('429 rate_limited');
    expect(status(() => g.admit('admin', '10.0.0.7'))).toBe('ok');
    // the attacker's address may still try other names (up to perIp)
    expect(status(() => g.admit('bob', '10.66.0.1'))).toBe('ok');
  });

  it('limits attempts per address whatever the names', () => {
    const g = new LoginGuard({ ...limits, perIp: 3 }, () => 0);
    for (const u of ['a', 'b', 'c']) g.admit(u, '10.9.9.9');
    expect(status(() => g.admit('d', '10.9.9.9'))).toBe('429 rate_limited');
    expect(status(() => g.admit('d', '10.9.9.8'))).toBe('ok');
  });

  it('spaces the password checks of a user under attack, known addresses first, never locks them out', async () => {
    vi.useFakeTimers();
    try {
      const g = new LoginGuard(limits, () => Date.now());
      g.succeeded('admin', '10.0.0.7'); // the admin's own PC
      // 10 failures from 10 addresses: admin is now slowed down (not refused)
      for (let i = 0; i < 10; i++) g.failed('admin', `10.66.1.${i}`);
      const order: string[] = [];
      const results: Array<Promise<string>> = [];
      const ask = (ip: string) =>
        results.push(
          g.turn('admin', ip).then(
            () => (order.push(ip), 'ok'),
            (e: AppError) => `${e.statusCode}`,
          ),
        );
      // the first check runs at once, then a queue of MAX_WAITING attackers
      for (let i = 0; i <= MAX_WAITING; i++) ask(`10.66.1.${i % 10}`);
      // one more attacker: the queue is full and it is no better than the waiting ones
      ask('10.66.9.9');
      // the real admin arrives last: it takes a place at the front, the worst waiter gets 429
      ask('10.0.0.7');
      await vi.advanceTimersByTimeAsync(0);
      expect(order).toEqual(['10.66.1.0']);
      await vi.advanceTimersByTimeAsync(1000);
      expect(order.at(-1)).toBe('10.0.0.7');
      await vi.advanceTimersByTimeAsync(20_000);
      const r = await Promise.all(results);
      expect(r.filter((x) => x === '429')).toHaveLength(2);
      expect(r.at(-1)).toBe('ok');
      // one check per second while the user is under attack
      expect(order).toHaveLength(MAX_WAITING + 1);
      // another user is not slowed down
      let other = false;
      void g.turn('bob', '10.66.1.1').then(() => (other = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(other).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a user below the slow-down threshold is never delayed', async () => {
    const g = new LoginGuard(limits, () => 0);
    for (let i = 0; i < 9; i++) g.failed('admin', `10.66.2.${i}`);
    await expect(g.turn('admin', '10.66.2.1')).resolves.toBeUndefined();
    await expect(g.turn('admin', '10.66.2.2')).resolves.toBeUndefined();
  });
});
