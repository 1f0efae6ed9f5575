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
const pair = (n: number, expiresIn = 900): TokenPair => ({
  accessToken: `access-${n}`,
  refreshToken: `refresh-${n}`,
  expiresIn,
  user,
});

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

/** A fake /auth server: rotates refresh tokens, and treats a reused one like the real server. */
function fakeAuthServer() {
  let n = 0;
  const valid = new Set<string>();
  const calls: string[] = [];
  let delayMs = 0;
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });
  const fetchFn = (async (url: RequestInfo | URL, init?: RequestInit) => {
    const path = typeof url === 'string' ? url : url instanceof URL ? url.href : url.url;
    calls.push(path);
    const body = JSON.parse((init?.body as string | undefined) ?? '{}') as Record<string, string>;
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
      const p = pair(++n);
      valid.add(p.refreshToken);
      return json(200, p);
    }
    if (path.endsWith('/refresh')) {
      if (!valid.delete(body.refreshToken!))
        return json(401, { code: 'refresh_token_reused', detail: 'reused' });
      const p = pair(++n);
      valid.add(p.refreshToken);
      return json(200, p);
    }
    return json(200, { ok: true });
  }) as typeof fetch;
  return {
    fetchFn,
    calls,
    setDelay: (ms: number) => (delayMs = ms),
  };
}

describe('AuthStore', () => {
  it('logs in, keeps the pair in storage, and logs out (revoking the refresh token)', async () => {
    const srv = fakeAuthServer();
    const storage = new MemoryStorage();
    const store = new AuthStore({ fetch: srv.fetchFn, storage });
    const seen: Array<string | null> = [];
    store.subscribe((s) => seen.push(s?.accessToken ?? null));
    await store.login('admin', 'pw');
    expect(store.get()?.accessToken).toBe('access-1');
    expect(JSON.parse(storage.getItem('ggnet.auth')!).refreshToken).toBe('refresh-1');
    // a new tab (new store over the same storage) is logged in too
    expect(new AuthStore({ fetch: srv.fetchFn, storage }).get()?.user.username).toBe('admin');
    await store.logout();
    expect(store.get()).toBeNull();
    expect(storage.getItem('ggnet.auth')).toBeNull();
    expect(srv.calls.at(-1)).toBe('/api/v1/auth/logout');
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
    expect(srv.calls.filter((c) => c.endsWith('/refresh'))).toHaveLength(1);
    expect(store.get()?.refreshToken).toBe('refresh-2');
  });

  it('adopts the pair another tab already rotated instead of reusing the old refresh token', async () => {
    const srv = fakeAuthServer();
    const storage = new MemoryStorage();
    let now = 1_000_000;
    const tabA = new AuthStore({ fetch: srv.fetchFn, storage, now: () => now });
    const tabB = new AuthStore({ fetch: srv.fetchFn, storage, now: () => now });
    await tabA.login('admin', 'pw');
    tabB.syncFromStorage();
    now += 899_000;
    await tabA.refresh(); // tab A rotates: refresh-1 is now used
    const adopted = await tabB.refresh(); // tab B still holds refresh-1 in memory
    expect(adopted?.refreshToken).toBe('refresh-2');
    expect(srv.calls.filter((c) => c.endsWith('/refresh'))).toHaveLength(1);
    expect(tabB.get()?.accessToken).toBe('access-2');
  });

  it('ends the login with a message when the server says the refresh token was reused', async () => {
    const srv = fakeAuthServer();
    const storage = new MemoryStorage();
    const store = new AuthStore({ fetch: srv.fetchFn, storage });
    await store.login('admin', 'pw');
    // someone else used this refresh token (stolen copy): the server refuses it
    await srv.fetchFn('/api/v1/auth/refresh', {
      method: 'POST',
      body: JSON.stringify({ refreshToken: 'refresh-1' }),
    });
    storage.setItem('ggnet.auth', JSON.stringify({ ...store.get(), expiresAt: 0 }));
    store.syncFromStorage();
    expect(await store.refresh()).toBeNull();
    expect(store.get()).toBeNull();
    expect(store.endedReason).toMatch(/used elsewhere/);
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
