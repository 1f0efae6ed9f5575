import { LoginRequest, Ok, RefreshRequest, TokenPair, User } from '@ggnet/contracts';
import type { FastifyRequest } from 'fastify';
import { notFound } from '../../errors/app-error.js';
import type { App } from '../../http/types.js';
import type { UsersService } from '../users/users.service.js';
import type { AuthService, ClientInfo } from './auth.service.js';

const client = (req: FastifyRequest): ClientInfo => ({
  ip: req.ip ?? null,
  userAgent: req.headers['user-agent'] ?? null,
});

export function registerAuthRoutes(app: App, deps: { auth: AuthService; users: UsersService }) {
  const tags = ['auth'];
  app.post(
    '/api/v1/auth/login',
    {
      schema: { tags, security: [], summary: 'Log in', body: LoginRequest, response: { 200: TokenPair } },
      config: { access: 'public', audit: 'auth.login', targetType: 'user' },
    },
    async (req) => {
      const pair = await deps.auth.login(req.body.username, req.body.password, client(req));
      req.user = { id: pair.user.id, username: pair.user.username, role: pair.user.role };
      return pair;
    },
  );

  app.post(
    '/api/v1/auth/refresh',
    {
      schema: {
        tags,
        security: [],
        summary: 'Exchange a refresh token for a new pair (the old one stops working)',
        body: RefreshRequest,
        response: { 200: TokenPair },
      },
      config: { access: 'public', audit: false },
    },
    async (req) => deps.auth.refresh(req.body.refreshToken, client(req)),
  );

  app.post(
    '/api/v1/auth/logout',
    {
      schema: {
        tags,
        security: [],
        summary: 'Revoke a refresh token (and its family)',
        body: RefreshRequest,
        response: { 200: Ok },
      },
      config: { access: 'public', audit: 'auth.logout' },
    },
    async (req) => {
      await deps.auth.logout(req.body.refreshToken);
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
