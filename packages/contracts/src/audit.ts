import { z } from 'zod';
import { ListQuery, Timestamp, sortBy } from './common.js';

export const AuditEntry = z.object({
  id: z.number().int(),
  at: Timestamp,
  userId: z.string().nullable(),
  username: z.string().nullable(),
  action: z.string(),
  method: z.string(),
  path: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  statusCode: z.number().int(),
  ip: z.string().nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AUDIT_SORT_FIELDS = ['at'] as const;
export const AuditListQuery = ListQuery.extend({
  /** Default: -at (newest first). */
  sort: sortBy(AUDIT_SORT_FIELDS),
  username: z.string().max(64).optional(),
  action: z.string().max(100).optional(),
  targetType: z.string().max(40).optional(),
  since: z.string().max(40).optional(),
});
export type AuditListQuery = z.infer<typeof AuditListQuery>;
