import { z } from 'zod';
import { ListQuery, QueryBool, sortBy } from './common.js';
import { Password, Username } from './names.js';
import { Role } from './auth.js';

export const UserCreate = z.strictObject({
  username: Username,
  password: Password,
  role: Role.default('viewer'),
  disabled: z.boolean().default(false),
});
export type UserCreate = z.input<typeof UserCreate>;

export const UserUpdate = z.strictObject({
  role: Role.optional(),
  disabled: z.boolean().optional(),
});
export type UserUpdate = z.infer<typeof UserUpdate>;

export const PasswordReset = z.strictObject({ password: Password });
export type PasswordReset = z.infer<typeof PasswordReset>;

export const USER_SORT_FIELDS = ['username', 'role', 'createdAt', 'lastLoginAt'] as const;
export const UserListQuery = ListQuery.extend({
  sort: sortBy(USER_SORT_FIELDS),
  role: Role.optional(),
  disabled: QueryBool.optional(),
});
export type UserListQuery = z.infer<typeof UserListQuery>;
