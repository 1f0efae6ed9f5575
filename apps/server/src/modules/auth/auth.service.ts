import { createHash } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import type { Role, TokenPair } from '@ggnet/contracts';
import { AppError, unauthorized } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import { newId, randomSecret } from '../../lib/ids.js';
import type { UsersRepository } from '../users/users.repository.js';
import { toUser, type UserRow } from '../users/users.repository.js';
import type { RefreshTokensRepository } from './refresh-tokens.repository.js';
import { dummyHash, verifyPassword } from './password.js';
import { LoginGuard, type LoginLimits } from './login-guard.js';

export interface AuthUser {
  id: string;
  username: string;
  role: Role;
}

export interface AuthConfig {
  jwtSecret: string;
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  loginLimit: LoginLimits;
}

export interface VerifiedToken {
  user: AuthUser;
  /** Expiry of the token (seconds since the epoch). */
  exp: number;
  /** The login (refresh family) the token belongs to. */
  familyId: string;
}

/** A change that may end or alter logins: a user changed, or a login (refresh family) was ended. */
export type AuthChange = { userId: string; familyId?: undefined } | { familyId: string; userId?: undefined };

interface CachedUser extends AuthUser {
  tokenVersion: number;
}

/**
 * How long a user row / a family's revocation is trusted without asking the database again. Changes
 * made by this process invalidate at once; this bounds how late a change by another process (the
 * `ggnet user passwd` CLI) is seen.
 */
const USER_CACHE_MS = 2000;
const FAMILY_CACHE_MS = 2000;

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
export const roleAtLeast = (role: Role, min: Role): boolean => ROLE_RANK[role] >= ROLE_RANK[min];

/**
 * Login, refresh with rotation and reuse detection, logout. Access tokens are short-lived JWTs
 * (HS256); refresh tokens are opaque random strings stored as SHA-256, grouped in families: using
 * a refresh token twice revokes its whole family (a stolen token is worth nothing once used).
 */
export class AuthService {
  private readonly key: Uint8Array;
  private readonly guard: LoginGuard;
  /** Short cache of user rows for token checks; invalidated on every user change. */
  private readonly userCache = new Map<string, { user: CachedUser | null; until: number }>();
  /** Short cache of "was this login ended"; set at once when this process ends one. */
  private readonly familyCache = new Map<string, { revoked: boolean; until: number }>();
  private readonly watchers = new Set<(change: AuthChange) => void>();

  constructor(
    private readonly users: UsersRepository,
    private readonly tokens: RefreshTokensRepository,
    private readonly cfg: AuthConfig,
  ) {
    this.key = new TextEncoder().encode(cfg.jwtSecret);
    this.guard = new LoginGuard(cfg.loginLimit);
  }

  async login(username: string, password: string, client: ClientInfo): Promise<TokenPair> {
    const name = username.trim().toLowerCase();
    const ip = client.ip ?? 'unknown';
    // 429 for this address (or this user from this address) only: never for the user everywhere
    this.guard.admit(name, ip);
    // a user under attack from elsewhere: password checks one at a time, known addresses first
    await this.guard.turn(name, ip);

    const row = await this.users.findByUsername(name);
    const ok = await verifyPassword(password, row?.password_hash ?? (await dummyHash()));
    if (!row || !ok) {
      this.guard.failed(name, ip);
      throw new AppError(401, 'invalid_credentials', 'wrong username or password', {
        hint: 'check the username and password; after several failures from this address its logins are paused for a minute',
      });
    }
    if (row.disabled) {
      throw new AppError(403, 'account_disabled', `user ${row.username} is disabled`, {
        hint: 'ask an administrator to enable the account',
      });
    }
    this.guard.succeeded(name, ip);
    const now = nowIso();
    await this.users.update(row.id, { last_login_at: now });
    return this.issue({ ...row, last_login_at: now }, newId(), client);
  }

  async refresh(refreshToken: string, client: ClientInfo): Promise<TokenPair> {
    const row = await this.tokens.findByHash(sha256(refreshToken));
    const now = nowIso();
    if (!row)
      throw new AppError(401, 'invalid_refresh_token', 'refresh token is not valid', {
        hint: 'log in again',
      });
    if (row.revoked_at || row.used_at) {
      // reuse of a rotated token: someone else has (had) it; revoke the whole family
      await this.revokeFamily(row.family_id, now);
      throw new AppError(
        401,
        'refresh_token_reused',
        'refresh token was already used; all sessions of this login were revoked',
        {
          hint: 'log in again',
        },
      );
    }
    if (row.expires_at <= now)
      throw new AppError(401, 'refresh_token_expired', 'refresh token has expired', { hint: 'log in again' });
    if (!(await this.tokens.markUsed(row.id, now))) {
      await this.revokeFamily(row.family_id, now);
      throw new AppError(401, 'refresh_token_reused', 'refresh token was already used', {
        hint: 'log in again',
      });
    }
    const user = await this.users.findById(row.user_id);
    if (!user || user.disabled) {
      await this.revokeFamily(row.family_id, now);
      throw unauthorized('the account no longer exists or is disabled', 'ask an administrator');
    }
    return this.issue(user, row.family_id, client);
  }

  /** Ends a login: its refresh tokens, and at once the access tokens issued with them. */
  async logout(refreshToken: string): Promise<void> {
    const row = await this.tokens.findByHash(sha256(refreshToken));
    if (row) await this.revokeFamily(row.family_id, nowIso());
  }

  private async revokeFamily(familyId: string, at: string): Promise<void> {
    await this.tokens.revokeFamily(familyId, at);
    this.familyCache.set(familyId, { revoked: true, until: Date.now() + FAMILY_CACHE_MS });
    this.notify({ familyId });
  }

  private async issue(row: UserRow, familyId: string, client: ClientInfo): Promise<TokenPair> {
    const user = toUser(row);
    // tv: the user's token version (raised on password reset / disable); fam: the login it belongs to
    const accessToken = await new SignJWT({
      role: user.role,
      username: user.username,
      tv: row.token_version,
      fam: familyId,
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuedAt()
      .setIssuer('ggnet')
      .setExpirationTime(`${this.cfg.accessTokenTtlSec}s`)
      .sign(this.key);
    const refreshToken = randomSecret(32);
    const now = new Date();
    await this.tokens.insert({
      id: newId(),
      user_id: user.id,
      family_id: familyId,
      token_hash: sha256(refreshToken),
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.cfg.refreshTokenTtlSec * 1000).toISOString(),
      used_at: null,
      revoked_at: null,
      ip: client.ip,
      user_agent: client.userAgent?.slice(0, 300) ?? null,
    });
    return { accessToken, refreshToken, expiresIn: this.cfg.accessTokenTtlSec, user };
  }

  /** Verifies an access token and returns the (current, enabled) user behind it. */
  async authenticate(token: string): Promise<AuthUser> {
    return (await this.verify(token)).user;
  }

  /**
   * Verifies an access token: signature, issuer, `exp` (required), and that it was not revoked since:
   * the user still exists and is enabled, its token version is the one in the token (password reset
   * and disable raise it) and its login (refresh family) was not ended. The current role is returned.
   */
  async verify(token: string): Promise<VerifiedToken> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        issuer: 'ggnet',
        algorithms: ['HS256'],
        requiredClaims: ['exp', 'iat', 'sub'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new AppError(401, 'token_expired', 'access token has expired', {
          hint: 'refresh it with POST /api/v1/auth/refresh',
        });
      }
      throw unauthorized('access token is not valid');
    }
    const { sub, exp, tv, fam } = payload;
    if (
      typeof sub !== 'string' ||
      typeof exp !== 'number' ||
      typeof tv !== 'number' ||
      typeof fam !== 'string'
    )
      throw unauthorized('access token is not valid');
    const user = await this.cachedUser(sub);
    if (!user) throw unauthorized('the account no longer exists or is disabled', 'ask an administrator');
    if (user.tokenVersion !== tv || (await this.familyRevoked(fam))) {
      throw new AppError(
        401,
        'token_revoked',
        'this login was ended (logout, new password or account change)',
        {
          hint: 'log in again',
        },
      );
    }
    return { user: { id: user.id, username: user.username, role: user.role }, exp, familyId: fam };
  }

  private async cachedUser(id: string): Promise<CachedUser | null> {
    const hit = this.userCache.get(id);
    if (hit && hit.until > Date.now()) return hit.user;
    const row = await this.users.findById(id);
    const user =
      row && !row.disabled
        ? { id: row.id, username: row.username, role: row.role as Role, tokenVersion: row.token_version }
        : null;
    if (this.userCache.size > 10_000) this.userCache.clear();
    this.userCache.set(id, { user, until: Date.now() + USER_CACHE_MS });
    return user;
  }

  private async familyRevoked(familyId: string): Promise<boolean> {
    const hit = this.familyCache.get(familyId);
    if (hit && hit.until > Date.now()) return hit.revoked;
    const revoked = await this.tokens.familyRevoked(familyId);
    if (this.familyCache.size > 10_000) this.familyCache.clear();
    this.familyCache.set(familyId, { revoked, until: Date.now() + FAMILY_CACHE_MS });
    return revoked;
  }

  /**
   * Called by the users service on every change of a user (role, disable, password, delete), so that
   * it applies to the next request at once, and to open event sockets (see watch()).
   */
  forgetUser(id: string): void {
    this.userCache.delete(id);
    this.notify({ userId: id });
  }

  /** Tells `fn` about every change that may end or change a login (for long-lived sockets). */
  watch(fn: (change: AuthChange) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private notify(change: AuthChange): void {
    for (const w of this.watchers) w(change);
  }
}
