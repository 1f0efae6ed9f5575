import type { FieldError } from '@ggnet/contracts';

/**
 * The one error type that crosses layers. Services throw it; the HTTP layer maps it once to
 * application/problem+json (see errors/problem.ts); the CLI prints message + hint.
 */
export class AppError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly hint?: string;
  readonly errors?: FieldError[];
  /** Extra headers (e.g. Retry-After). */
  readonly headers?: Record<string, string>;

  constructor(
    statusCode: number,
    code: string,
    message: string,
    opts: { hint?: string; errors?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'AppError';
    this.statusCode = statusCode;
    this.code = code;
    this.hint = opts.hint;
    this.errors = opts.errors;
    this.headers = opts.headers;
  }
}

export const badRequest = (code: string, message: string, hint?: string, errors?: FieldError[]) =>
  new AppError(400, code, message, { hint, errors });
export const unauthorized = (
  message = 'authentication required',
  hint = 'log in and send the access token as "Authorization: Bearer <token>"',
) => new AppError(401, 'unauthorized', message, { hint });
export const forbidden = (message: string, hint?: string) =>
  new AppError(403, 'forbidden', message, { hint });
export const notFound = (what: string, id: string) =>
  new AppError(404, 'not_found', `${what} ${JSON.stringify(id)} does not exist`, {
    hint: `list the existing ${what}s to find the right id`,
  });
export const conflict = (code: string, message: string, hint?: string) =>
  new AppError(409, code, message, { hint });
export const unprocessable = (code: string, message: string, hint?: string) =>
  new AppError(422, code, message, { hint });
export const tooManyRequests = (message: string, retryAfterSec: number) =>
  new AppError(429, 'rate_limited', message, {
    hint: `wait ${retryAfterSec} s before trying again`,
    headers: { 'retry-after': String(retryAfterSec) },
  });
export const insufficientStorage = (message: string, hint?: string) =>
  new AppError(507, 'insufficient_storage', message, { hint });
export const unavailable = (code: string, message: string, hint?: string) =>
  new AppError(503, code, message, { hint });

export const isAppError = (err: unknown): err is AppError => err instanceof AppError;
