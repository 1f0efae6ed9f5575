import { z } from 'zod';
import { Id, Timestamp } from './common.js';
import { ROLES } from './plain.js';

export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

export const User = z.object({
  id: Id,
  username: z.string(),
  role: Role,
  disabled: z.boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  lastLoginAt: Timestamp.nullable(),
});
export type User = z.infer<typeof User>;

/**
 * The refresh token of a browser login lives in this cookie: httpOnly (scripts never see it),
 * SameSite=Strict, Secure over TLS, sent only to the auth endpoints.
 */
export const REFRESH_COOKIE = 'ggnet_refresh';
export const REFRESH_COOKIE_PATH = '/api/v1/auth';
/**
 * Requests that use (or set) the refresh cookie must carry this header with the value `1`: a page
 * on another site cannot add it without a CORS preflight, which GGnet never grants (CSRF defence,
 * together with SameSite=Strict and an Origin check).
 */
export const CSRF_HEADER = 'x-ggnet-csrf';

export const LoginRequest = z.strictObject({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
  /**
   * Where the refresh token goes: `body` (API clients, the default) or `cookie` (the web console:
   * an httpOnly cookie, never in the body; needs the CSRF header).
   */
  refreshIn: z.enum(['body', 'cookie']).default('body'),
});
export type LoginRequest = z.input<typeof LoginRequest>;

export const TokenPair = z.object({
  accessToken: z.string(),
  /** Absent when the refresh token went into the cookie. */
  refreshToken: z.string().optional(),
  /** Seconds until the access token expires. */
  expiresIn: z.number().int(),
  user: User,
});
export type TokenPair = z.infer<typeof TokenPair>;

/** `refreshToken` from the body, or (without it) the refresh cookie plus the CSRF header. */
export const RefreshRequest = z.strictObject({ refreshToken: z.string().min(16).max(512).optional() });
export type RefreshRequest = z.infer<typeof RefreshRequest>;
