import type { FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../errors/app-error.js';
import { roleAtLeast, type AuthService } from '../modules/auth/auth.service.js';
import type { App } from './types.js';

export function bearerToken(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1]! : null;
}

/**
 * Every /api/v1 route must say who may call it (config.access); a route without it fails at
 * start-up, so nothing is left open by accident. The check runs before body parsing.
 */
export function registerAuth(app: App, auth: AuthService): void {
  app.decorateRequest('user', null);
  app.decorateRequest('auditTarget', null);

  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/api/v1/') && !route.config?.access) {
      throw new Error(`route ${String(route.method)} ${route.url} has no config.access`);
    }
  });

  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config?.access;
    if (!access || access === 'public') return;
    const token = bearerToken(req);
    if (!token) throw unauthorized();
    const user = await auth.authenticate(token);
    req.user = user;
    if (!roleAtLeast(user.role, access)) {
      throw forbidden(
        `this needs the ${access} role; you are ${user.role}`,
        'ask an administrator for a role with more rights',
      );
    }
  });
}
