import type { FieldError } from '@ggnet/contracts';

/** An error answer of the API (application/problem+json), or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly hint: string | undefined;
  readonly errors: FieldError[];
  /** Seconds from a Retry-After header (429). */
  readonly retryAfterSec: number | null;

  constructor(init: {
    status: number;
    code: string;
    detail: string;
    hint?: string;
    errors?: FieldError[];
    retryAfterSec?: number | null;
  }) {
    super(init.detail);
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.hint = init.hint;
    this.errors = init.errors ?? [];
    this.retryAfterSec = init.retryAfterSec ?? null;
  }

  /** Field errors keyed by the field path without the `body.` prefix (`body.mac` -> `mac`). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.errors) {
      const key = e.path.replace(/^(body|query|params|querystring)\.?/, '');
      if (key && !out[key]) out[key] = e.message;
    }
    return out;
  }
}

export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;

/** Builds an ApiError from a failed fetch Response (problem+json or anything else). */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const retry = res.headers.get('retry-after');
  const retryAfterSec = retry && /^\d+$/.test(retry) ? Number(retry) : null;
  let body: Record<string, unknown> | null = null;
  try {
    const text = await res.text();
    body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
  } catch {
    body = null;
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return new ApiError({
    status: res.status,
    code: str(body?.code) ?? (res.status === 404 ? 'not_found' : `http_${res.status}`),
    detail: str(body?.detail) ?? `${res.status} ${res.statusText || 'error'}`,
    hint: str(body?.hint),
    errors: Array.isArray(body?.errors) ? (body.errors as FieldError[]) : [],
    retryAfterSec,
  });
}

/** A short human message for any error (toasts, inline alerts). */
export function describeError(e: unknown): { title: string; message: string } {
  if (isApiError(e)) {
    return { title: e.detail, message: e.hint ?? (e.status ? `error ${e.code}` : '') };
  }
  return { title: 'Something went wrong', message: e instanceof Error ? e.message : String(e) };
}
