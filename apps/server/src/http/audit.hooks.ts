import type { Logger } from 'pino';
import type { AuditRepository } from '../modules/audit/audit.repository.js';
import type { App } from './types.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Writes one audit row per mutating /api request, successful or not: who, what, on which object,
 * the outcome, when and from where. Bodies are never logged (they carry passwords).
 */
export function registerAudit(app: App, audit: AuditRepository, log: Logger): void {
  app.addHook('onResponse', async (req, reply) => {
    if (!MUTATING.has(req.method) || !req.url.startsWith('/api/')) return;
    const cfg = req.routeOptions.config;
    if (cfg?.audit === false) return;
    const params = (req.params ?? {}) as Record<string, unknown>;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const target =
      req.auditTarget ??
      (typeof params.id === 'string' ? { type: cfg?.targetType ?? 'unknown', id: params.id } : null);
    const username =
      req.user?.username ??
      (typeof body.username === 'string' && cfg?.audit === 'auth.login' ? body.username.slice(0, 64) : null);
    try {
      await audit.insert({
        at: new Date().toISOString(),
        user_id: req.user?.id ?? null,
        username,
        action: cfg?.audit ?? `${req.method} ${req.routeOptions.url ?? 'unmatched'}`,
        method: req.method,
        path: req.url.split('?')[0]!.slice(0, 500),
        target_type: target?.type ?? cfg?.targetType ?? null,
        target_id: target?.id ?? null,
        status_code: reply.statusCode,
        ip: req.ip ?? null,
      });
    } catch (err) {
      log.error({ err }, 'cannot write audit log');
    }
  });
}
