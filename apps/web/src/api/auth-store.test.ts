import { describe, expect, it } from 'vitest';
import type { TokenPair } from '@ggnet/contracts';
import { ApiError } from './api-error';
import { AuthStore } from './auth-store';

const user = {
  id: 'u1',
  username: 'admin',
  role: 'admin' as const,
  disabled: false,
  createdAt: '',
  updatedAt: '',
  lastLoginAt: null,
};
const pair = (n: number, expiresIn = 900): TokenPair => ({ accessToken: `access-${n}`, expiresIn, user });

class MemoryStorage implements Storage {
  private m = new Map<string, string>();
  get length() {
    return this.m.size;
  }
  clear() {
    this.m.clear();
  }
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  key(i: number) {
    return [...this.m.keys()][i] ?? null;
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
}

/**
 * A fake /auth server and the browser's cookie jar: the refresh token is a cookie the page never
 * sees; it rotates on every refresh, and a reused one is refused like the real server does.
 */
function fakeAuthServer() {
  let n = 0;
  const jar = { cookie: null as string | null };
  const valid = new Set<string>();
  const calls: Array<{ path: string; body: Record<string, string>; csrf: string | undefined }> = [];
  let delayMs = 0;
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });
  const rotate = () => {
    const p = pair(++n);
    jar.cookie = `cookie-${n}`;
    valid.add(jar.cookie);
    return json(200, p);
  };
  const fetchFn = (async (url: RequestInfo | URL, init?: RequestInit) => {
    const path = typeof url === 'string' ? url : url instanceof URL ? url.href : url.url;
    const body = JSON.parse((init?.body as string | undefined) ?? '{}') as Record<string, string>;
    const csrf = (init?.headers as Record<string, string> | undefined)?.['x-ggnet-csrf'];
    calls.push({ path, body, csrf });
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    if (path.endsWith('/login')) {
      if (body.password === 'limited')
        return json(
          429,
          { code: 'rate_limited', detail: 'too many login attempts', hint: 'wait 42 s' },
          { 'retry-after': '42' },
        );
      if (body.password !== 'pw')
        return json(401, { code: 'invalid_credentials', detail: 'wrong username or password' });
      return rotate();
    }
    if (path.endsWith('/refresh')) {
      if (csrf !== '1') return json(403, { code: 'csrf_refused', detail: 'no csrf header' });
      if (!jar.cookie || !valid.delete(jar.cookie))
        return json(401, { code: 'refresh_token_reused', detail: 'reused' });
      return rotate();
    }
    if (path.endsWith('/logout')) {
      if (jar.cookie) valid.delete(jar.cookie);
      jar.cookie = null;
    }
    return json(200, { ok: true });
  }) as typeof fetch;
  return {
    fetchFn,
    calls,
    jar,
    /** Someone with a copy of the cookie used it first (a stolen cookie). */
    steal: () => {
      if (jar.cookie) valid.delete(jar.cookie);
    },
    setDelay: (ms: number) => (delayMs = ms),
  };
}

describe('AuthStore', () => {
  it('logs in with the refresh token in a cookie: storage holds who is logged in, never a token', async () => {
    const srv = fakeAuthServer();
    const storage = new MemoryStorage();
    const store = new AuthStore({ fetch: srv.fetchFn, storage });
    const seen: Array<string | null> = [];
    store.subscribe((s) => seen.push(s?.accessToken ?? null));
    await store.login('admin', 'pw');
    expect(srv.calls[0]).toEqual({
      path: '/api/v1/auth/login',
      body: { username: 'admin', password: 'pw', refreshIn: 'cookie' },
      csrf: '1',
    });
    expect(store.get()?.accessToken).toBe('access-1');
    expect(JSON.parse(storage.getItem('ggnet.auth')!)).toEqual({ user });
    expect(storage.getItem('ggnet.auth')).not.toMatch(/access|cookie|refresh/);
    // a new tab (new store over the same storage) is logged in too, and gets its own access token
    const tab = new AuthStore({ fetch: srv.fetchFn, storage });
    expect(tab.get()?.user.username).toBe('admin');
    expect(tab.get()?.accessToken).toBeNull();
    expect(await tab.accessToken()).toBe('access-2');
    await store.logout();
    expect(store.get()).toBeNull();
    expect(storage.getItem('ggnet.auth')).toBeNull();
    expect(srv.calls.at(-1)).toEqual({ path: '/api/v1/auth/logout', body: {}, csrf: '1' });
    expect(srv.jar.cookie).toBeNull();
    expect(seen).toEqual(['access-1', null]);
  });

  it('turns a wrong password and a 429 into ApiErrors with code and Retry-After', async () => {
    const store = new AuthStore({ fetch: fakeAuthServer().fetchFn, storage: new MemoryStorage() });
    const wrong = await store.login('admin', 'nope').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ApiError);
    expect((wrong as ApiError).code).toBe('invalid_credentials');
    const limited = (await store.login('admin', 'limited').catch((e: unknown) => e)) as ApiError;
    expect(limited.status).toBe(429);
    expect(limited.retryAfterSec).toBe(42);
    expect(limited.hint).toBe('wait 42 s');
    expect(store.get()).toBeNull();
  });

  it('refreshes an access token that is about to expire, once for many concurrent callers', async () => {
    const srv = fakeAuthServer();
    let now = 1_000_000;
    const store = new AuthStore({ fetch: srv.fetchFn, storage: new MemoryStorage(), now: () => now });
    await store.login('admin', 'pw');
    expect(await store.accessToken()).toBe('access-1'); // fresh: no refresh
    now += 890_000; // 10 s before expiry: inside the early-refresh window
    srv.setDelay(20);
    const tokens = await Promise.all([store.accessToken(), store.accessToken(), store.accessToken()]);
    expect(tokens).toEqual(['access-2', 'access-2', 'access-2']);
    expect(srv.calls.filter((c) => c.path.endsWith('/refresh'))).toHaveLength(1);
    expect(srv.jar.cookie).toBe('cookie-2');
  });

  it('two tabs refresh one after the other with the cookie the previous refresh set (no reuse)', async () => {
    const srv = fakeAuthServer();
    const storage = new MemoryStorage();
    let now = 1_000_000;
    const tabA = new AuthStore({ fetch: srv.fetchFn, storage, now: () => now });
    const tabB = new AuthStore({ fetch: srv.fetchFn, storage, now: () => now });
    await tabA.login('admin', 'pw');
    tabB.syncFromStorage();
    expect(tabB.get()?.user.username).toBe('admin');
    now += 899_000;
    expect((await tabA.refresh())?.accessToken).toBe('access-2');
    expect((await tabB.refresh())?.accessToken).toBe('access-3');
    expect(tabA.get()?.accessToken).toBe('access-2');
    expect(tabB.get()).not.toBeNull();
  });

  it('ends the login with a message when the server says the refresh cookie was reused', async () => {
    const srv = fakeAuthServer();
    const storage = new MemoryStorage();
    const store = new AuthStore({ fetch: srv.fetchFn, storage });
    await store.login('admin', 'pw');
    srv.steal();
    expect(await store.refresh()).toBeNull();
    expect(store.get()).toBeNull();
    expect(storage.getItem('ggnet.auth')).toBeNull();
    expect(store.endedReason).toMatch(/used elsewhere/);
  });

  it('follows logins and logouts of other tabs', async () => {
    const srv = fakeAuthServer();
    const storage = new MemoryStorage();
    const tabA = new AuthStore({ fetch: srv.fetchFn, storage });
    const tabB = new AuthStore({ fetch: srv.fetchFn, storage });
    await tabA.login('admin', 'pw');
    tabB.syncFromStorage();
    expect(tabB.get()?.user.username).toBe('admin');
    await tabA.logout();
    tabB.syncFromStorage();
    expect(tabB.get()).toBeNull();
    expect(await tabB.refresh()).toBeNull();
    expect(srv.calls.filter((c) => c.path.endsWith('/refresh'))).toHaveLength(0);
  });

  it('takes a refresh token an older console left in storage out of it and ends that login', async () => {
    const srv = fakeAuthServer();
    const storage = new MemoryStorage();
    storage.setItem(
      'ggnet.auth',
      JSON.stringify({ accessToken: 'a', refreshToken: 'old-refresh-token-123', expiresAt: 0, user }),
    );
    const store = new AuthStore({ fetch: srv.fetchFn, storage });
    expect(store.get()).toBeNull();
    expect(storage.getItem('ggnet.auth')).toBeNull();
    await Promise.resolve();
    expect(srv.calls[0]).toEqual({
      path: '/api/v1/auth/logout',
      body: { refreshToken: 'old-refresh-token-123' },
      csrf: '1',
    });
  });

  it('serialises refreshes through Web Locks when the browser has them', async () => {
    const srv = fakeAuthServer();
    const held: string[] = [];
    const locks = {
      request: async (name: string, cb: () => Promise<unknown>) => {
        held.push(name);
        return cb();
      },
      query: async () => ({}),
    } as unknown as LockManager;
    const store = new AuthStore({ fetch: srv.fetchFn, storage: new MemoryStorage(), locks });
    await store.login('admin', 'pw');
    await store.refresh();
    expect(held).toEqual(['ggnet-auth-refresh']);
  });
});
