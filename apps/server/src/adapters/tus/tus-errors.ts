import type { Problem } from '@ggnet/contracts';
import { AppError } from '../../errors/app-error.js';
import { appErrorProblem, problemOf } from '../../errors/problem.js';

/** tus's errors: plain `{status_code, body}` objects (@tus/server's ERRORS), or a TusHttpError. */
export type TusError = { status_code: number; body: string };
export const isTusError = (e: unknown): e is TusError =>
  typeof (e as TusError | null)?.status_code === 'number';

/** An error that @tus/server sends as is: status code + body (text, or problem+json text). */
export class TusHttpError extends Error {
  constructor(
    readonly status_code: number,
    readonly body: string,
    /** Extra headers of the answer (e.g. Tus-Version on a 412). */
    readonly headers: Record<string, string> = {},
  ) {
    super(body);
    this.name = 'TusHttpError';
  }
  static of(e: TusError): TusHttpError {
    return new TusHttpError(e.status_code, e.body);
  }
}

/** An AppError as a tus error: its problem+json (errors/problem.ts) is the body. */
export const tusError = (e: AppError): TusHttpError =>
  new TusHttpError(e.statusCode, JSON.stringify(appErrorProblem(e)), e.headers ?? {});

/** tus's own errors (offset mismatch, gone...) with a stable code and a hint. */
const TUS_CODES: Record<number, { code: string; hint: string }> = {
  400: { code: 'bad_request', hint: 'see the tus 1.0 protocol' },
  403: { code: 'forbidden', hint: 'see the tus 1.0 protocol' },
  404: {
    code: 'upload_not_found',
    hint: 'the upload finished, was cancelled or never existed: start a new one',
  },
  409: { code: 'upload_offset_mismatch', hint: 'ask for the offset with HEAD and resume from there' },
  410: { code: 'upload_gone', hint: 'start a new upload' },
  412: { code: 'tus_version', hint: 'send Tus-Resumable: 1.0.0' },
  413: { code: 'upload_too_large', hint: 'no boot image needs to be this big' },
  415: { code: 'unsupported_media_type', hint: 'send Content-Type: application/offset+octet-stream' },
};

/** The answer to an error of the tus endpoints: problem+json with a stable code and a hint, whatever threw it. */
export function tusProblem(err: unknown, log: { error(obj: object, msg: string): void }): Problem {
  if (err instanceof AppError) return appErrorProblem(err);
  if (isTusError(err)) {
    if (err.body.startsWith('{')) return JSON.parse(err.body) as Problem;
    const known = TUS_CODES[err.status_code];
    return problemOf({
      status: err.status_code,
      code: known?.code ?? (err.status_code >= 500 ? 'upload_failed' : 'bad_request'),
      detail: String(err.body).trim(),
      hint: known?.hint,
    });
  }
  log.error({ err }, 'upload failed');
  return problemOf({
    status: 500,
    code: 'internal_error',
    detail: 'the upload failed on the server; it has been logged',
  });
}
