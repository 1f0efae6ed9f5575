import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, describeError } from './api-error';
import { AuthStore } from './auth-store';
import { api, buildQuery } from './client';

const user = {
  id: 'u1',
  username: 'op',
  role: 'operator' as const,
  disabled: false,
  createdAt: '',
  updatedAt: '',
  lastLoginAt: null,
};

/** A store logged in as `user` whose access token is `accessToken` (the refresh cookie is the server's). */
async function storeWith(session: { accessToken: string }, refreshFetch: typeof fetch) {
  const login = vi.fn(
    async () =>
      new Response(JSON.stringify({ accessToken: session.accessToken, expiresIn: 600, user }), {
        status: 200,
      }),
  );
  const store = new AuthStore({
    fetch: (url, init) =>
      typeof url === 'string' && url.endsWith('/login') ? login() : refreshFetch(url, init),
    storage: window.localStorage,
  });
  await store.login('op', 'pw');
  return store;
}

afterEach(() => {
  vi.unstubAllGlobals();
  window.localStorage.clear();
});

describe('api()', () => {
  it('sends the bearer token and parses JSON; query values that are empty are left out', async () => {
    const fetchMock = vi.fn(
      async () => new Response(JSON.stringify({ items: [], total: 0 }), { status: 200 }),
    );
    vi.stubGlobal('fetch', fetchMock);
    const store = await storeWith({ accessToken: 'a1' }, fetchMock);
    const r = await api('/machines', { query: { q: 'pc', status: undefined, limit: 50, x: '' } }, store);
    expect(r).toEqual({ items: [], total: 0 });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/machines?q=pc&limit=50');
    expect((init.headers as Record<string, string>).authorization).toBe('Bearer a1');
  });

  it('refreshes once on token_expired and retries with the new token', async () => {
    const seen: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init: RequestInit) => {
        const auth = (init.headers as Record<string, string>).authorization;
        seen.push(auth ?? '');
        return auth === 'Bearer old'
          ? new Response(JSON.stringify({ code: 'token_expired', detail: 'access token has expired' }), {
              status: 401,
            })
          : new Response(JSON.stringify({ ok: true }), { status: 200 });
      }),
    );
    const refresh = vi.fn(
      async () =>
        new Response(JSON.stringify({ accessToken: 'new', expiresIn: 900, user }), {
          status: 200,
        }),
    );
    const store = await storeWith({ accessToken: 'old' }, refresh);
    expect(await api('/jobs', {}, store)).toEqual({ ok: true });
    expect(seen).toEqual(['Bearer old', 'Bearer new']);
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it('a token the server ended (token_revoked) is refreshed once; a refused refresh logs out', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response(JSON.stringify({ code: 'token_revoked', detail: 'this login was ended' }), {
            status: 401,
          }),
      ),
    );
    const refresh = vi.fn(
      async () =>
        new Response(JSON.stringify({ code: 'invalid_refresh_token', detail: 'log in again' }), {
          status: 401,
        }),
    );
    const store = await storeWith({ accessToken: 'gone' }, refresh);
    const e = (await api('/jobs', {}, store).catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('token_revoked');
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(store.get()).toBeNull();
    expect(store.endedReason).toMatch(/expired/);
  });

  it('throws ApiError with code, hint and per-field errors from problem+json', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response(
            JSON.stringify({
              code: 'validation_failed',
              detail: 'invalid request: body.mac: must be a unicast MAC address',
              hint: 'fix the fields listed in errors',
              errors: [{ path: 'body.mac', message: 'must be a unicast MAC address' }],
            }),
            { status: 400, headers: { 'content-type': 'application/problem+json' } },
          ),
      ),
    );
    const store = await storeWith({ accessToken: 'a' }, fetch);
    const e = (await api('/machines', { method: 'POST', body: {} }, store).catch(
      (x: unknown) => x,
    )) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(400);
    expect(e.fieldErrors()).toEqual({ mac: 'must be a unicast MAC address' });
    expect(describeError(e)).toEqual({ title: e.detail, message: 'fix the fields listed in errors' });
  });

  it('reports an unreachable server as network_error', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('Failed to fetch');
      }),
    );
    const store = await storeWith({ accessToken: 'a' }, fetch);
    const e = (await api('/machines', {}, store).catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('network_error');
    expect(e.status).toBe(0);
  });

  it('buildQuery encodes values', () => {
    expect(buildQuery({ q: 'a b&c', n: 0, t: true })).toBe('?q=a+b%26c&n=0&t=true');
    expect(buildQuery({})).toBe('');
  });
});
