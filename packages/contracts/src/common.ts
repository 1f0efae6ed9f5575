import { z } from 'zod';

/** ISO-8601 UTC timestamp as stored and returned by the API. */
export const Timestamp = z.string().meta({ description: 'ISO-8601 UTC timestamp' });
export const Id = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an id (letters, digits, - and _)')
  .meta({ description: 'Opaque identifier' });

export const LIMIT_MAX = 500;

/** `?limit&offset&sort&q` shared by every list endpoint. `sort` is a field name, `-field` for descending. */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMIT_MAX).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
  sort: z
    .string()
    .regex(/^-?[a-zA-Z][a-zA-Z0-9]{0,40}$/, 'sort must be a field name, optionally prefixed with -')
    .optional(),
  q: z.string().max(200).optional(),
});
export type ListQuery = z.infer<typeof ListQuery>;

export const page = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    total: z.number().int().min(0),
  });
export interface Page<T> {
  items: T[];
  total: number;
}

export const FieldError = z.object({ path: z.string(), message: z.string() });
export type FieldError = z.infer<typeof FieldError>;

/** RFC 9457 problem details, extended with a stable machine-readable `code` and a `hint` for humans. */
export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  code: z.string(),
  detail: z.string(),
  hint: z.string().optional(),
  errors: z.array(FieldError).optional(),
  requestId: z.string().optional(),
});
export type Problem = z.infer<typeof Problem>;

export const IdParams = z.object({ id: Id });
export const Ok = z.object({ ok: z.literal(true) });

/** Boolean in a query string: `true/false/1/0`. */
export const QueryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
