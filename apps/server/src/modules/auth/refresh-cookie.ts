import { CSRF_HEADER, REFRESH_COOKIE, REFRESH_COOKIE_PATH } from '@ggnet/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors/app-error.js';

/** The value of one cookie of the request, or null. */
export function readCookie(req: FastifyRequest, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{16,512}$/.test(v) ? v : null;
    }
  }
  return null;
}

/**
 * Sets (or, with null, clears) the refresh cookie: httpOnly, SameSite=Strict, only sent to
 * /api/v1/auth, Secure when the request came over TLS (directly, or as a trusted proxy says).
 */
export function setRefreshCookie(
  req: FastifyRequest,
  reply: FastifyReply,
  token: string | null,
  maxAgeSec: number,
): void {
  const attrs = [
    `${REFRESH_COOKIE}=${token ?? ''}`,
    `Path=${REFRESH_COOKIE_PATH}`,
    `Max-Age=${token ? maxAgeSec : 0}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (req.protocol === 'https') attrs.push('Secure');
  void reply.header('set-cookie', attrs.join('; '));
  // a response that sets the login cookie is never cached
  void reply.header('cache-control', 'no-store');
}

/**
 * CSRF defence for requests that use or set the refresh cookie, beside SameSite=Strict: the custom
 * header (a cross-site page cannot send it without a CORS preflight, which GGnet never answers), and
 * an Origin, when the browser sends one, naming this host.
 */
export function checkCsrf(req: FastifyRequest): void {
  if (req.headers[CSRF_HEADER] !== '1') {
    throw new AppError(
      403,
      'csrf_refused',
      `the refresh cookie is only used with the header ${CSRF_HEADER}: 1`,
      {
        hint: `send "${CSRF_HEADER}: 1" (the web console does), or send the refresh token in the body`,
      },
    );
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | null = null;
  try {
    host = new URL(origin).hostname;
  } catch {
    host = null;
  }
  const own = hostnameOf(req.host);
  if (!host || !own || host.toLowerCase() !== own.toLowerCase()) {
    throw new AppError(
      403,
      'csrf_refused',
      `a request from ${origin.slice(0, 100)} may not use the refresh cookie`,
      {
        hint: 'open the console at the address of this GGnet server',
      },
    );
  }
}

/** The host name of a Host header value (`ggnet.lan:8080` -> `ggnet.lan`, `[::1]:80` -> `[::1]`). */
function hostnameOf(host: string): string | null {
  if (!host) return null;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(0, end + 1) : null;
  }
  return host.split(':')[0] ?? null;
}
