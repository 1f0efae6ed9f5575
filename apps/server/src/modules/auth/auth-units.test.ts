import { describe, expect, it } from 'vitest';
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
