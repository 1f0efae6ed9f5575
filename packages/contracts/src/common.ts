import { z } from 'zod';

// In a browser the console runs under a Content-Security-Policy without 'unsafe-eval' (the server's
// security headers): zod must then never compile parsers with `new Function`, not even probe whether
// it may (the CSP reports the probe as a violation). The probe happens when a schema is built, so
// this runs here, before any schema of this package exists (every module of it imports this one
// first). The server keeps zod's faster compiled parsers.
const g = globalThis as { window?: unknown; document?: unknown };
if (g.window !== undefined && g.document !== undefined) z.config({ jitless: true });

/** ISO-8601 UTC timestamp as stored and returned by the API. */
export const Timestamp = z.string().meta({ description: 'ISO-8601 UTC timestamp' });
export const Id = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an id (letters, digits, - and _)')
  .meta({ description: 'Opaque identifier' });

export const LIMIT_MAX = 500;

/**
 * `?limit&offset&q` shared by every list endpoint. Each list adds its own `sort` with `sortBy()`:
 * the fields it can sort by, an explicit enum (anything else is a 400, never a lookup in an object).
 */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMIT_MAX).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
  q: z.string().max(200).optional(),
});
export type ListQuery = z.infer<typeof ListQuery>;

/** A sort key of a list: `field` ascending, `-field` descending. */
export type SortKey<F extends string> = F | `-${F}`;

/** `?sort=` of a list: one of `fields`, optionally prefixed with `-` (descending). */
export function sortBy<const F extends readonly [string, ...string[]]>(fields: F) {
  const values = fields.flatMap((f) => [f, `-${f}`]) as [SortKey<F[number]>, ...SortKey<F[number]>[]];
  return z
    .enum(values, {
      error: () => `sort must be one of ${fields.join(', ')} (prefix - for descending)`,
    })
    .optional();
}

/** The field and direction of a sort key (`-name` -> name, descending). */
export function parseSort<F extends string>(
  sort: SortKey<F> | undefined,
  fallback: SortKey<F>,
): { field: F; desc: boolean } {
  const s: string = sort ?? fallback;
  return s.startsWith('-') ? { field: s.slice(1) as F, desc: true } : { field: s as F, desc: false };
}

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
