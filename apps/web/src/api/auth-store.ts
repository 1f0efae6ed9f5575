import type { TokenPair, User } from '@ggnet/contracts';
import { ApiError, errorFromResponse } from './api-error';

export interface AuthSession {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms when the access token expires. */
  expiresAt: number;
  user: User;
}

type Listener = (s: AuthSession | null) => void;

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
 * Holds the login of this browser and keeps its access token fresh. Refresh tokens rotate on every
 * use and a reused one revokes the whole login, so refreshes are single-flight within a tab and
 * serialised across tabs (Web Locks); a tab that waited adopts the pair another tab already got.
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

  private read(): AuthSession | null {
    try {
      const raw = this.deps.storage.getItem(KEY);
      if (!raw) return null;
      const s = JSON.parse(raw) as AuthSession;
      return s && typeof s.refreshToken === 'string' && s.user ? s : null;
    } catch {
      return null;
    }
  }

  private write(s: AuthSession | null): void {
    if (s) this.deps.storage.setItem(KEY, JSON.stringify(s));
    else this.deps.storage.removeItem(KEY);
    this.set(s);
  }

  private set(s: AuthSession | null): void {
    this.session = s;
    for (const l of this.listeners) l(s);
  }

  /** Another tab changed the stored login (storage event). */
  syncFromStorage(): void {
    const s = this.read();
    if (s?.refreshToken !== this.session?.refreshToken || s?.accessToken !== this.session?.accessToken) {
      this.set(s);
    }
  }

  get(): AuthSession | null {
    return this.session;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private fromPair(p: TokenPair): AuthSession {
    return {
      accessToken: p.accessToken,
      refreshToken: p.refreshToken,
      expiresAt: this.now() + p.expiresIn * 1000,
      user: p.user,
    };
  }

  async login(username: string, password: string): Promise<AuthSession> {
    const res = await this.post('/api/v1/auth/login', { username, password });
    if (!res.ok) throw await errorFromResponse(res);
    const s = this.fromPair((await res.json()) as TokenPair);
    this.endedReason = null;
    this.write(s);
    return s;
  }

  async logout(): Promise<void> {
    const s = this.session;
    this.write(null);
    if (s) await this.post('/api/v1/auth/logout', { refreshToken: s.refreshToken }).catch(() => undefined);
  }

  /** Ends the login locally (refresh refused, account disabled). */
  expire(reason: string): void {
    this.endedReason = reason;
    this.write(null);
  }

  updateUser(user: User): void {
    if (this.session) this.write({ ...this.session, user });
  }

  /** A valid access token, refreshed first when it is about to expire; null when logged out. */
  async accessToken(): Promise<string | null> {
    const s = this.session;
    if (!s) return null;
    if (s.expiresAt - EARLY_MS > this.now()) return s.accessToken;
    const fresh = await this.refresh();
    return fresh?.accessToken ?? null;
  }

  /** Rotates the refresh token. Resolves null (and logs out) when the server refuses it. */
  refresh(): Promise<AuthSession | null> {
    if (!this.inflight) {
      const used = this.session?.refreshToken;
      const run = () => this.doRefresh(used);
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

  private async doRefresh(used: string | undefined): Promise<AuthSession | null> {
    // another tab may have rotated while this one waited for the lock: adopt its pair
    const stored = this.read();
    if (!stored) {
      this.set(null);
      return null;
    }
    if (stored.refreshToken !== used && stored.expiresAt - EARLY_MS > this.now()) {
      this.set(stored);
      return stored;
    }
    let res: Response;
    try {
      res = await this.post('/api/v1/auth/refresh', { refreshToken: stored.refreshToken });
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
      this.write(s);
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
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
}
