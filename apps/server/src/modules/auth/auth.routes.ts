import { LoginRequest, Ok, REFRESH_COOKIE, RefreshRequest, TokenPair, User } from '@ggnet/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, notFound } from '../../errors/app-error.js';
import type { App } from '../../http/types.js';
import type { UsersService } from '../users/users.service.js';
import type { AuthService, ClientInfo } from './auth.service.js';
import { checkCsrf, readCookie, setRefreshCookie } from './refresh-cookie.js';

const client = (req: FastifyRequest): ClientInfo => ({
  ip: req.ip ?? null,
  userAgent: req.headers['user-agent'] ?? null,
});

export function registerAuthRoutes(
  app: App,
  deps: { auth: AuthService; users: UsersService; refreshTokenTtlSec: number },
) {
  const tags = ['auth'];

  /** In cookie mode the refresh token goes into the httpOnly cookie and never into the body. */
  const answer = (req: FastifyRequest, reply: FastifyReply, pair: TokenPair, cookie: boolean): TokenPair => {
    if (!cookie) return pair;
    setRefreshCookie(req, reply, pair.refreshToken ?? null, deps.refreshTokenTtlSec);
    const { refreshToken: _inCookie, ...rest } = pair;
    return rest;
  };

  /** The refresh token of a request: from the body, else from the cookie (with the CSRF checks). */
  const presented = (
    req: FastifyRequest,
    body: RefreshRequest,
  ): { token: string | null; cookie: boolean } => {
    if (body.refreshToken) return { token: body.refreshToken, cookie: false };
    const token = readCookie(req, REFRESH_COOKIE);
    if (token) checkCsrf(req);
    return { token, cookie: token !== null };
  };
  app.post(
    '/api/v1/auth/login',
    {
      schema: { tags, security: [], summary: 'Log in', body: LoginRequest, response: { 200: TokenPair } },
      config: { access: 'public', audit: 'auth.login', targetType: 'user' },
    },
    async (req, reply) => {
      const cookie = req.body.refreshIn === 'cookie';
      if (cookie) checkCsrf(req);
      const pair = await deps.auth.login(req.body.username, req.body.password, client(req));
      req.user = { id: pair.user.id, username: pair.user.username, role: pair.user.role };
      return answer(req, reply, pair, cookie);
    },
  );

  app.post(
    '/api/v1/auth/refresh',
    {
      schema: {
        tags,
        security: [],
        summary:
          'Exchange a refresh token (body, or the refresh cookie with the CSRF header) for a new pair; the old one stops working',
        body: RefreshRequest,
        response: { 200: TokenPair },
      },
      config: { access: 'public', audit: false },
    },
    async (req, reply) => {
      const { token, cookie } = presented(req, req.body);
      if (!token) {
        throw new AppError(401, 'invalid_refresh_token', 'no refresh token (body or cookie)', {
          hint: 'log in again',
        });
      }
      try {
        return answer(req, reply, await deps.auth.refresh(token, client(req)), cookie);
      } catch (err) {
        // a refused cookie is useless: clear it
        if (cookie) setRefreshCookie(req, reply, null, 0);
        throw err;
      }
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      schema: {
        tags,
        security: [],
        summary: 'End a login: revoke its refresh token (body or cookie) and the access tokens of that login',
        body: RefreshRequest,
        response: { 200: Ok },
      },
      config: { access: 'public', audit: 'auth.logout' },
    },
    async (req, reply) => {
      const { token, cookie } = presented(req, req.body);
      if (token) await deps.auth.logout(token);
      if (cookie || readCookie(req, REFRESH_COOKIE)) setRefreshCookie(req, reply, null, 0);
      return { ok: true as const };
    },
  );

  app.get(
    '/api/v1/auth/me',
    {
      schema: { tags, summary: 'The logged-in user', response: { 200: User } },
      config: { access: 'viewer' },
    },
    async (req) => {
      const me = await deps.users.get(req.user!.id).catch(() => null);
      if (!me) throw notFound('user', req.user!.id);
      return me;
    },
  );
}
