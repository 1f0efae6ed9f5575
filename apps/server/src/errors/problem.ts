import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { FieldError, Problem } from '@ggnet/contracts';
import { AppError } from './app-error.js';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

/** Fastify's own 4xx errors (body parsing, limits) with a stable code and a hint. */
const FASTIFY_CODES: Record<string, { code: string; hint: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', hint: 'the request body must be valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', hint: 'send a JSON body, or no Content-Type header' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', hint: 'send a smaller body' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    hint: 'send Content-Type: application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'bad_request', hint: 'Content-Length does not match the body' },
  FST_ERR_VALIDATION: { code: 'validation_failed', hint: 'fix the fields listed in errors' },
};

/** The one problem+json body builder: type and title from the status and code. */
export function problemOf(p: Omit<Problem, 'type' | 'title'>): Problem {
  return {
    type: `https://ggnet.dev/problems/${p.code}`,
    title: TITLES[p.status] ?? 'Error',
    ...p,
  };
}

/** An AppError as problem+json (without a request id). */
export const appErrorProblem = (e: AppError): Problem =>
  problemOf({ status: e.statusCode, code: e.code, detail: e.message, hint: e.hint, errors: e.errors });

export function sendProblem(
  reply: FastifyReply,
  problem: Omit<Problem, 'type' | 'title'> & { headers?: Record<string, string> },
) {
  const { headers, ...rest } = problem;
  if (headers) void reply.headers(headers);
  return reply.status(problem.status).type('application/problem+json').send(problemOf(rest));
}

function zodIssuesToFields(err: FastifyError): FieldError[] {
  if (!hasZodFastifySchemaValidationErrors(err)) return [];
  return err.validation.map((v) => {
    const loc = err.validationContext ?? 'body';
    const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const issue = v.params.issue as { code?: string; keys?: string[] } | undefined;
    const keys = issue?.code === 'unrecognized_keys' && issue.keys ? ` (${issue.keys.join(', ')})` : '';
    return { path: path ? `${loc}.${path}` : loc, message: `${v.message}${keys}` };
  });
}

/** Maps every error to application/problem+json, once, for the whole app. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const requestId = String(request.id);
    if (error instanceof AppError) {
      if (error.statusCode >= 500) request.log.error({ err: error }, error.message);
      return sendProblem(reply, {
        status: error.statusCode,
        code: error.code,
        detail: error.message,
        hint: error.hint,
        errors: error.errors,
        requestId,
        headers: error.headers,
      });
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const errors = zodIssuesToFields(error);
      return sendProblem(reply, {
        status: 400,
        code: 'validation_failed',
        detail: `invalid request: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
        hint: 'fix the fields listed in errors',
        errors,
        requestId,
      });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const known = (error.code && FASTIFY_CODES[error.code]) || undefined;
      const code =
        known?.code ?? (status === 404 ? 'not_found' : status === 429 ? 'rate_limited' : 'bad_request');
      return sendProblem(reply, {
        status,
        code,
        detail: error.message,
        hint: known?.hint,
        requestId,
      });
    }
    request.log.error({ err: error, requestId }, 'unexpected error');
    return sendProblem(reply, {
      status: 500,
      code: 'internal_error',
      detail: 'an unexpected error happened; it has been logged',
      hint: `quote request id ${requestId} when reporting this`,
      requestId,
    });
  });
}
