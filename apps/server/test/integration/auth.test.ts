import { afterEach, beforeEach, expect, it } from 'vitest';
import { MAX_WAITING } from '../../src/modules/auth/login-guard.js';
import {
  ADMIN_PASSWORD,
  createTestContext,
  describeEachDialect,
  type TestContext,
} from '../helpers/test-context.js';

describeEachDialect('auth', (dialect) => {
  let t: TestContext;
  beforeEach(async () => {
    t = await createTestContext(dialect, {
      config: { loginLimit: { perIp: 50, perUser: 3, windowSec: 60 } },
    });
  });
  afterEach(async () => t.close());

  const login = (username: string, password: string, ip = '10.0.0.1') =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username, password },
      remoteAddress: ip,
    });

  it('logs in, reads /me, refreshes with rotation, detects reuse and logs out', async () => {
    const res = await login('admin', ADMIN_PASSWORD);
    expect(res.statusCode).toBe(200);
    const pair = res.json();
    expect(pair.user).toMatchObject({ username: 'admin', role: 'admin', disabled: false });
    expect(pair.expiresIn).toBeGreaterThan(0);

    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    expect(me.statusCode).toBe(200);
    expect(me.json().username).toBe('admin');
    expect(me.json().lastLoginAt).not.toBeNull();

    const r1 = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(r1.statusCode).toBe(200);
    const pair2 = r1.json();
    expect(pair2.refreshToken).not.toBe(pair.refreshToken);

    // the first refresh token was rotated away: using it again is reuse and revokes the family
    const reuse = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().code).toBe('refresh_token_reused');
    const afterReuse = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: pair2.refreshToken },
    });
    expect(afterReuse.statusCode).toBe(401);

    // a new login, then logout revokes its refresh token
    const pair3 = (await login('admin', ADMIN_PASSWORD)).json();
    const out = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      payload: { refreshToken: pair3.refreshToken },
    });
    expect(out.statusCode).toBe(200);
    const afterLogout = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: pair3.refreshToken },
    });
    expect(afterLogout.statusCode).toBe(401);
  });

  it('refuses a wrong password with problem+json and never says which part was wrong', async () => {
    const res = await login('admin', 'wrong-password');
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ code: 'invalid_credentials', status: 401 });
    const nobody = await login('nobody', 'wrong-password');
    expect(nobody.statusCode).toBe(401);
    expect(nobody.json().detail).toBe(res.json().detail);
  });

  it('a stranger cannot lock a user out: failures count per user and address', async () => {
    // the attacker's PC: 3 wrong passwords (perUser in this suite), then 429 from there, even right ones
    for (let i = 0; i < 3; i++) expect((await login('admin', 'nope-nope', '10.66.0.1')).statusCode).toBe(401);
    const limited = await login('admin', ADMIN_PASSWORD, '10.66.0.1');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json().code).toBe('rate_limited');
    // the admin at their own PC gets in at once; a typo there is a 401, not a 429
    expect((await login('admin', ADMIN_PASSWORD, '10.0.0.7')).statusCode).toBe(200);
    expect((await login('admin', 'typo-typo', '10.0.0.8')).statusCode).toBe(401);
    // another user from the attacker's address is not affected
    await t.container.users.create({ username: 'op', password: 'operator-pw-1', role: 'operator' });
    expect((await login('op', 'operator-pw-1', '10.66.0.1')).statusCode).toBe(200);
  });

  it('a user attacked from many addresses is slowed down (bounded guesses), never locked out', async () => {
    const t2 = await createTestContext(dialect, {
      config: { loginLimit: { perIp: 50, perUser: 3, slowdownAfter: 6, slowdownMs: 300, windowSec: 60 } },
    });
    try {
      const l = (password: string, ip: string) =>
        t2.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'admin', password },
          remoteAddress: ip,
        });
      expect((await l(ADMIN_PASSWORD, '10.0.0.7')).statusCode).toBe(200); // the admin's usual PC
      for (let i = 0; i < 6; i++) expect((await l('wrong-pw', `10.66.3.${i}`)).statusCode).toBe(401);
      // now a burst of guesses from fresh addresses, and the admin logging in meanwhile: the checks
      // run one at a time, at most MAX_WAITING wait, the rest are refused; the admin goes first
      const burst = Array.from({ length: MAX_WAITING + 5 }, (_, i) => l('wrong-pw', `10.66.4.${i}`));
      const admin = await l(ADMIN_PASSWORD, '10.0.0.7');
      expect(admin.statusCode, admin.body).toBe(200);
      const codes = (await Promise.all(burst)).map((r) => r.statusCode);
      expect(codes.filter((c) => c === 429)).toHaveLength(5);
      expect(codes.filter((c) => c === 401)).toHaveLength(MAX_WAITING);
    } finally {
      await t2.close();
    }
  });

  it('rate-limits per IP', async () => {
    const t2 = await createTestContext(dialect, {
      config: { loginLimit: { perIp: 2, perUser: 100, windowSec: 60 } },
    });
    try {
      const l = (u: string) =>
        t2.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: u, password: 'x' },
          remoteAddress: '10.9.9.9',
        });
      expect((await l('a1')).statusCode).toBe(401);
      expect((await l('a2')).statusCode).toBe(401);
      const third = await l('a3');
      expect(third.statusCode).toBe(429);
      expect(third.headers['retry-after']).toBeDefined();
    } finally {
      await t2.close();
    }
  });

  it('refuses disabled users, and disabling ends their refresh tokens', async () => {
    const u = await t.container.users.create({ username: 'bob', password: 'bob-password', role: 'viewer' });
    const pair = (await login('bob', 'bob-password')).json();
    const dis = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${u.id}`,
      headers: await t.auth(),
      payload: { disabled: true },
    });
    expect(dis.statusCode).toBe(200);
    expect((await login('bob', 'bob-password')).json().code).toBe('account_disabled');
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(r.statusCode).toBe(401);
    // the access token stops working at once too
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    expect(me.statusCode).toBe(401);
  });

  it('answers 401 for missing, malformed and forged tokens', async () => {
    for (const h of [
      {},
      { authorization: 'Bearer' },
      { authorization: 'Basic abc' },
      { authorization: 'Bearer a.b.c' },
    ]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/machines', headers: h });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('unauthorized');
    }
  });
});
