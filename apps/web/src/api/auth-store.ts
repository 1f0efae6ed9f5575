import { CSRF_HEADER, type TokenPair, type User } from '@ggnet/contracts';
import { ApiError, errorFromResponse } from './api-error';

export interface AuthSession {
  /** In memory only; null until this tab has got one (a new tab, a reload). */
  accessToken: string | null;
  /** Epoch ms when the access token expires (0 = none yet). */
  expiresAt: number;
  user: User;
}

type Listener = (s: AuthSession | null) => void;

/**
 * What this browser keeps in localStorage: who is logged in, never a token. The refresh token is an
 * httpOnly cookie the scripts of the page cannot read; the access token lives in memory per tab.
 */
const KEY = 'ggnet.auth';
/** Refresh this long before the access token expires, so that a request never carries a dead token. */
const EARLY_MS = 30_000;

export interface AuthStoreDeps {
  fetch: typeof fetch;
  storage: Storage;
  /** Cross-tab mutual exclusion (navigator.locks); absent in jsdom and old browsers. */
  locks?: LockManager | undefined;
  now?: () => number;
}

/**
 * Holds the login of this browser and keeps its access token fresh. The refresh token is an httpOnly,
 * SameSite=Strict cookie (sent only to /api/v1/auth, with the CSRF header) that rotates on every use,
 * and a reused one revokes the whole login; so refreshes are single-flight within a tab and
 * serialised across tabs (Web Locks): each refresh sends the cookie the previous one set. Every tab
 * gets its own access token; logging in or out in one tab is seen by the others (storage event).
 */
export class AuthStore {
  private session: AuthSession | null;
  private readonly listeners = new Set<Listener>();
  private inflight: Promise<AuthSession | null> | null = null;
  /** Why the last login ended on its own (shown on the login page). */
  endedReason: string | null = null;

  constructor(private readonly deps: AuthStoreDeps) {
    this.session = this.read();
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** The stored login (a user, no tokens). A login stored by an older console is cleared and ended. */
  private read(): AuthSession | null {
    try {
      const raw = this.deps.storage.getItem(KEY);
      if (!raw) return null;
      const s = JSON.parse(raw) as { user?: User; refreshToken?: unknown };
      if (typeof s.refreshToken === 'string') {
        // an older console kept the refresh token here: take it out of storage and end that login
        this.deps.storage.removeItem(KEY);
        void this.post('/api/v1/auth/logout', { refreshToken: s.refreshToken }).catch(() => undefined);
        return null;
      }
      return s.user && typeof s.user.username === 'string'
        ? { accessToken: null, expiresAt: 0, user: s.user }
        : null;
    } catch {
      return null;
    }
  }

  private write(s: AuthSession | null): void {
    if (s) this.deps.storage.setItem(KEY, JSON.stringify({ user: s.user }));
    else this.deps.storage.removeItem(KEY);
    this.set(s);
  }

  private set(s: AuthSession | null): void {
    this.session = s;
    for (const l of this.listeners) l(s);
  }

  /** Another tab logged in, out, or as someone else (storage event). */
  syncFromStorage(): void {
    const s = this.read();
    if (!s) {
      if (this.session) this.set(null);
      return;
    }
    if (!this.session || this.session.user.id !== s.user.id) this.set(s);
    else if (JSON.stringify(this.session.user) !== JSON.stringify(s.user))
      this.set({ ...this.session, user: s.user });
  }

  get(): AuthSession | null {
    return this.session;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private fromPair(p: TokenPair): AuthSession {
    return { accessToken: p.accessToken, expiresAt: this.now() + p.expiresIn * 1000, user: p.user };
  }

  async login(username: string, password: string): Promise<AuthSession> {
    const res = await this.post('/api/v1/auth/login', { username, password, refreshIn: 'cookie' });
    if (!res.ok) throw await errorFromResponse(res);
    const s = this.fromPair((await res.json()) as TokenPair);
    this.endedReason = null;
    this.write(s);
    return s;
  }

  /** Ends the login on the server (its cookie and tokens) and in every tab. */
  async logout(): Promise<void> {
    const had = this.session;
    this.write(null);
    if (had) await this.post('/api/v1/auth/logout', {}).catch(() => undefined);
  }

  /** Ends the login locally (refresh refused, account disabled). */
  expire(reason: string): void {
    this.endedReason = reason;
    this.write(null);
  }

  updateUser(user: User): void {
    if (this.session) this.write({ ...this.session, user });
  }

  /** A valid access token, refreshed first when missing or about to expire; null when logged out. */
  async accessToken(): Promise<string | null> {
    const s = this.session;
    if (!s) return null;
    if (s.accessToken && s.expiresAt - EARLY_MS > this.now()) return s.accessToken;
    const fresh = await this.refresh();
    return fresh?.accessToken ?? null;
  }

  /** Gets a new access token with the refresh cookie. Resolves null (and logs out) when refused. */
  refresh(): Promise<AuthSession | null> {
    if (!this.inflight) {
      const run = () => this.doRefresh();
      const locks = this.deps.locks;
      const p: Promise<AuthSession | null> = locks
        ? (locks.request('ggnet-auth-refresh', run) as unknown as Promise<AuthSession | null>)
        : run();
      this.inflight = p.finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async doRefresh(): Promise<AuthSession | null> {
    // logged out meanwhile (here or in another tab): nothing to refresh
    if (!this.session || !this.deps.storage.getItem(KEY)) {
      if (this.session) this.set(null);
      return null;
    }
    let res: Response;
    try {
      res = await this.post('/api/v1/auth/refresh', {});
    } catch {
      throw new ApiError({
        status: 0,
        code: 'network_error',
        detail: 'the GGnet server cannot be reached',
        hint: 'check the network and that the server is running',
      });
    }
    if (res.ok) {
      const s = this.fromPair((await res.json()) as TokenPair);
      // the stored user changes only when the server says so (a new role): other tabs follow
      if (JSON.stringify(s.user) !== JSON.stringify(this.session?.user)) this.write(s);
      else this.set(s);
      return s;
    }
    const err = await errorFromResponse(res);
    if (res.status === 401 || res.status === 403) {
      this.expire(
        err.code === 'refresh_token_reused'
          ? 'Your login was used elsewhere and has been ended for safety. Please log in again.'
          : 'Your session has expired. Please log in again.',
      );
      return null;
    }
    throw err;
  }

  private post(url: string, body: unknown): Promise<Response> {
    return this.deps.fetch(url, {
      method: 'POST',
      // the refresh cookie is same-origin; the header is what a page of another site cannot send
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', [CSRF_HEADER]: '1' },
      body: JSON.stringify(body),
    });
  }
}
