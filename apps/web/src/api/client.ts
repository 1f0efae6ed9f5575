import { ApiError, errorFromResponse } from './api-error';
import { AuthStore } from './auth-store';
import { serverClock } from '../lib/server-clock';

export const auth = new AuthStore({
  fetch: (...a) => fetch(...a),
  storage: window.localStorage,
  locks: typeof navigator !== 'undefined' && 'locks' in navigator ? navigator.locks : undefined,
});
window.addEventListener('storage', (e) => {
  if (e.key === null || e.key === 'ggnet.auth') auth.syncFromStorage();
});

export type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  query?: Record<string, QueryValue>;
  signal?: AbortSignal;
}

export function buildQuery(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Calls the GGnet API (`path` below /api/v1), refreshing the access token once on token_expired. */
export async function api<T>(path: string, opts: RequestOptions = {}, store: AuthStore = auth): Promise<T> {
  const url = `/api/v1${path}${buildQuery(opts.query)}`;
  const send = async (token: string | null) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const sentAt = Date.now();
      const res = await fetch(url, {
        method: opts.method ?? 'GET',
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      });
      serverClock.observe(res.headers.get('date'), sentAt, Date.now());
      return res;
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new ApiError({
        status: 0,
        code: 'network_error',
        detail: 'the GGnet server cannot be reached',
        hint: 'check the network and that the server is running',
      });
    }
  };
  let res = await send(await store.accessToken());
  if (res.status === 401 && store.get()) {
    const err = await errorFromResponse(res.clone());
    // expired, or ended by the server (logout elsewhere, new password, account change): a refresh
    // either gets a token with the current role or finds the login ended and logs out
    if (err.code === 'token_expired' || err.code === 'unauthorized' || err.code === 'token_revoked') {
      const fresh = await store.refresh();
      if (!fresh) throw err;
      res = await send(fresh.accessToken);
    }
  }
  if (!res.ok) throw await errorFromResponse(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
