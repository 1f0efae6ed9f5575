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

export const LoginRequest = z.strictObject({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
});
export type LoginRequest = z.infer<typeof LoginRequest>;

export const TokenPair = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  /** Seconds until the access token expires. */
  expiresIn: z.number().int(),
  user: User,
});
export type TokenPair = z.infer<typeof TokenPair>;

export const RefreshRequest = z.strictObject({ refreshToken: z.string().min(16).max(512) });
export type RefreshRequest = z.infer<typeof RefreshRequest>;
