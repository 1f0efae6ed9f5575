import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Migrator } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StaticMigrationProvider } from '../../src/db/migrations/index.js';
import {
  ADMIN_PASSWORD,
  createTestContext,
  describeEachDialect,
  type TestContext,
} from '../helpers/test-context.js';

const WEB_BUILT = existsSync(fileURLToPath(new URL('../../../web/dist/index.html', import.meta.url)));
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

type Res = Awaited<ReturnType<TestContext['app']['inject']>>;

/** The cookie of a Set-Cookie header, and its attributes. */
function cookieOf(res: Res): { value: string; attrs: string[] } | null {
  const raw = res.headers['set-cookie'];
  const line = (Array.isArray(raw) ? raw : raw ? [raw] : []).find((l) => l.startsWith('ggnet_refresh='));
  if (!line) return null;
  const [pair, ...attrs] = line.split(';').map((s) => s.trim());
  return { value: pair!.slice('ggnet_refresh='.length), attrs };
}

describeEachDialect('console hardening: headers, refresh cookie, metrics and readiness', (dialect) => {
  let t: TestContext;

  beforeAll(async () => {
    t = await createTestContext(dialect, {
      config: { metricsToken: METRICS_TOKEN, loginLimit: { perIp: 1000, perUser: 100 } },
    });
  });
  afterAll(async () => t.close());

  const expectSecurityHeaders = (res: Res, label: string) => {
    expect(res.headers['x-frame-options'], label).toBe('DENY');
    expect(res.headers['x-content-type-options'], label).toBe('nosniff');
    expect(res.headers['referrer-policy'], label).toBe('no-referrer');
    const csp = String(res.headers['content-security-policy']);
    expect(csp, label).toContain("frame-ancestors 'none'");
    expect(csp, label).toContain("object-src 'none'");
    return csp;
  };

  it('sends CSP, X-Frame-Options, nosniff and Referrer-Policy on API answers and errors', async () => {
    for (const url of ['/healthz', '/api/v1/auth/me', '/api/v1/nothing', '/api/openapi.json']) {
      const res = await t.app.inject({ url, headers: { host: 'ggnet.lan:8080' } });
      const csp = expectSecurityHeaders(res, url);
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toContain("connect-src 'self' ws://ggnet.lan:8080 wss://ggnet.lan:8080");
    }
    // a Host header that is not a host name never lands in the policy
    const odd = await t.app.inject({ url: '/healthz', headers: { host: "x; script-src 'unsafe-inline'" } });
    expect(String(odd.headers['content-security-policy'])).toContain("connect-src 'self';");
    expect(String(odd.headers['content-security-policy'])).not.toContain('x; script-src');
  });

  it.skipIf(!WEB_BUILT)(
    'the console (index.html, client routes, assets) is served under the CSP',
    async () => {
      for (const url of ['/', '/machines', '/login']) {
        const res = await t.app.inject({ url });
        expect(res.statusCode).toBe(200);
        const csp = expectSecurityHeaders(res, url);
        // no inline scripts allowed: the built app has none
        expect(csp).toMatch(/script-src 'self'(;|$)/);
        expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      }
      const asset = /src="(\/assets\/[^"]+\.js)"/.exec((await t.app.inject({ url: '/' })).body)![1]!;
      expectSecurityHeaders(await t.app.inject({ url: asset }), asset);
    },
  );

  it('the API docs keep their own CSP (swagger-ui’s), not framable, without upgrading to https', async () => {
    const res = await t.app.inject({ url: '/api/docs' });
    expect(res.statusCode).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'[^;]*;/);
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it('readyz says ready or not, never where the database is', async () => {
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
    const p = await createTestContext(dialect);
    try {
      const migrator = new Migrator({
        db: p.container.database.db,
        provider: new StaticMigrationProvider({ dialect: p.container.database.dialect }),
        migrationTableName: 'ggnet_migrations',
        migrationLockTableName: 'ggnet_migrations_lock',
      });
      expect((await migrator.migrateDown()).error).toBeUndefined();
      const res = await p.app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ status: 'not_ready', reason: 'migrations' });
      expect(res.body).not.toContain(p.dataDir);
      expect(res.body).not.toMatch(/sqlite|postgres|ggnet\.db|127\.0\.0\.1/);
    } finally {
      await p.close();
    }
  });

  it('metrics: served to this host and with the metrics token, to nobody else', async () => {
    const local = await t.app.inject({ url: '/metrics' });
    expect(local.statusCode).toBe(200);
    expect(local.body).toContain('ggnet_http_request_duration_seconds');
    const remote = await t.app.inject({ url: '/metrics', remoteAddress: '10.1.2.3' });
    expect(remote.statusCode).toBe(401);
    expect(remote.json()).toMatchObject({ code: 'metrics_token_required', hint: expect.any(String) });
    expect(remote.body).not.toContain('ggnet_http');
    // behind the proxy on this host: the client's address counts, not the proxy's
    const proxied = await t.app.inject({ url: '/metrics', headers: { 'x-forwarded-for': '10.1.2.3' } });
    expect(proxied.statusCode).toBe(401);
    const wrong = await t.app.inject({
      url: '/metrics',
      remoteAddress: '10.1.2.3',
      headers: { authorization: 'Bearer not-the-metrics-token-at-all' },
    });
    expect(wrong.statusCode).toBe(401);
    // an admin's access token is not the metrics token
    const admin = await t.app.inject({ url: '/metrics', remoteAddress: '10.1.2.3', headers: await t.auth() });
    expect(admin.statusCode).toBe(401);
    const ok = await t.app.inject({
      url: '/metrics',
      remoteAddress: '10.1.2.3',
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(ok.statusCode).toBe(200);
  });

  const csrf = { 'x-ggnet-csrf': '1' };
  const cookieLogin = (headers: Record<string, string> = csrf) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers,
      payload: { username: 'admin', password: ADMIN_PASSWORD, refreshIn: 'cookie' },
    });
  const withCookie = (path: string, value: string, headers: Record<string, string> = csrf) =>
    t.app.inject({
      method: 'POST',
      url: `/api/v1/auth/${path}`,
      headers: { ...headers, cookie: `other=1; ggnet_refresh=${value}` },
      payload: {},
    });

  it('the console login keeps its refresh token in an httpOnly SameSite=Strict cookie on the auth path', async () => {
    expect((await cookieLogin({})).json().code).toBe('csrf_refused');
    const res = await cookieLogin();
    expect(res.statusCode).toBe(200);
    expect(res.json().refreshToken).toBeUndefined();
    expect(res.json().accessToken).toBeTruthy();
    expect(res.headers['cache-control']).toBe('no-store');
    const c = cookieOf(res)!;
    expect(c.value).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(c.attrs).toEqual(
      expect.arrayContaining([
        'Path=/api/v1/auth',
        'HttpOnly',
        'SameSite=Strict',
        expect.stringMatching(/^Max-Age=\d+$/),
      ]),
    );
    expect(c.attrs).not.toContain('Secure'); // plain HTTP here; see proxy-address for https
    // API clients keep getting the refresh token in the body, and no cookie
    const api = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin', password: ADMIN_PASSWORD },
    });
    expect(api.json().refreshToken).toBeTruthy();
    expect(cookieOf(api)).toBeNull();
  });

  it('refresh with the cookie: rotates it, needs the CSRF header and this host as Origin, detects reuse', async () => {
    const first = cookieOf(await cookieLogin())!.value;
    // no CSRF header, or a page of another site: refused, the cookie is not used up
    expect((await withCookie('refresh', first, {})).statusCode).toBe(403);
    const cross = await withCookie('refresh', first, {
      ...csrf,
      origin: 'http://evil.example',
      host: 'ggnet.lan',
    });
    expect(cross.statusCode).toBe(403);
    expect(cross.json().code).toBe('csrf_refused');
    const ok = await withCookie('refresh', first, {
      ...csrf,
      origin: 'http://ggnet.lan:8080',
      host: 'ggnet.lan:8080',
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().refreshToken).toBeUndefined();
    const second = cookieOf(ok)!.value;
    expect(second).not.toBe(first);
    const me = await t.app.inject({
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${ok.json().accessToken}` },
    });
    expect(me.statusCode).toBe(200);
    // the first cookie again (a stolen copy): the login is revoked and the cookie cleared
    const reuse = await withCookie('refresh', first);
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().code).toBe('refresh_token_reused');
    expect(cookieOf(reuse)!.attrs).toContain('Max-Age=0');
    expect((await withCookie('refresh', second)).statusCode).toBe(401);
    // no cookie, no body: a clear 401
    const none = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      headers: csrf,
      payload: {},
    });
    expect(none.json().code).toBe('invalid_refresh_token');
  });

  it('logout with the cookie ends the login and clears the cookie', async () => {
    const login = await cookieLogin();
    const value = cookieOf(login)!.value;
    const out = await withCookie('logout', value);
    expect(out.statusCode).toBe(200);
    expect(cookieOf(out)!.attrs).toContain('Max-Age=0');
    expect((await withCookie('refresh', value)).statusCode).toBe(401);
    const me = await t.app.inject({
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${login.json().accessToken}` },
    });
    expect(me.statusCode).toBe(401);
  });
});
