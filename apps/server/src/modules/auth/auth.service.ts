import { createHash } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Role, TokenPair, User } from '@ggnet/contracts';
import { AppError, unauthorized } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import { newId, randomSecret } from '../../lib/ids.js';
import type { UsersRepository } from '../users/users.repository.js';
import { toUser } from '../users/users.repository.js';
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
  private readonly userCache = new Map<string, { user: AuthUser | null; until: number }>();

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
    return this.issue(toUser({ ...row, last_login_at: now }), newId(), client);
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
      await this.tokens.revokeFamily(row.family_id, now);
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
      await this.tokens.revokeFamily(row.family_id, now);
      throw new AppError(401, 'refresh_token_reused', 'refresh token was already used', {
        hint: 'log in again',
      });
    }
    const user = await this.users.findById(row.user_id);
    if (!user || user.disabled) {
      await this.tokens.revokeFamily(row.family_id, now);
      throw unauthorized('the account no longer exists or is disabled', 'ask an administrator');
    }
    return this.issue(toUser(user), row.family_id, client);
  }

  async logout(refreshToken: string): Promise<void> {
    const row = await this.tokens.findByHash(sha256(refreshToken));
    if (row) await this.tokens.revokeFamily(row.family_id, nowIso());
  }

  private async issue(user: User, familyId: string, client: ClientInfo): Promise<TokenPair> {
    const accessToken = await new SignJWT({ role: user.role, username: user.username })
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
    let sub: string | undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: 'ggnet', algorithms: ['HS256'] });
      sub = payload.sub;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new AppError(401, 'token_expired', 'access token has expired', {
          hint: 'refresh it with POST /api/v1/auth/refresh',
        });
      }
      throw unauthorized('access token is not valid');
    }
    if (!sub) throw unauthorized('access token is not valid');
    const user = await this.cachedUser(sub);
    if (!user) throw unauthorized('the account no longer exists or is disabled', 'ask an administrator');
    return user;
  }

  private async cachedUser(id: string): Promise<AuthUser | null> {
    const hit = this.userCache.get(id);
    if (hit && hit.until > Date.now()) return hit.user;
    const row = await this.users.findById(id);
    const user = row && !row.disabled ? { id: row.id, username: row.username, role: row.role as Role } : null;
    this.userCache.set(id, { user, until: Date.now() + 2000 });
    return user;
  }

  /** Called by the users service on every change, so that role/disable changes apply at once. */
  forgetUser(id: string): void {
    this.userCache.delete(id);
  }
}
