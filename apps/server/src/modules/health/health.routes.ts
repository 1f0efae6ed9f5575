import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../db/database.js';
import { migrationsPending } from '../../db/database.js';
import { AppError } from '../../errors/app-error.js';
import { bearerToken } from '../../http/auth.hooks.js';
import type { Metrics } from '../../http/metrics.js';
import type { App } from '../../http/types.js';

export function registerHealthRoutes(
  app: App,
  deps: {
    database: Database;
    metrics: Metrics;
    version: string;
    metricsToken?: string;
    /** What keeps the disk service from serving (a tgtd that is not GGnet's own on a control port). */
    iscsi?: () => { reason: 'iscsi_conflict' | 'iscsi_failed'; detail: string } | null;
  },
) {
  app.get(
    '/healthz',
    { schema: { hide: true }, config: { access: 'public' }, logLevel: 'warn' },
    async () => ({ status: 'ok', version: deps.version }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        hide: true,
        response: {
          200: z.object({ status: z.literal('ready') }),
          503: z.object({
            status: z.literal('not_ready'),
            reason: z.enum(['database', 'migrations', 'iscsi_conflict', 'iscsi_failed']),
            /** iSCSI reasons, to this host only: which daemon, what holds its control port (never database details). */
            detail: z.string().optional(),
          }),
        },
      },
      config: { access: 'public' },
      logLevel: 'warn',
    },
    // public: says ready or not and which part is missing, never where the database is or its errors
    async (req, reply) => {
      try {
        await sql`select 1`.execute(deps.database.db);
        const pending = await migrationsPending(deps.database);
        if (pending > 0) {
          req.log.warn({ pending }, 'not ready: migrations pending');
          return reply.status(503).send({ status: 'not_ready', reason: 'migrations' });
        }
      } catch (err) {
        req.log.warn({ err }, 'not ready: database unreachable');
        return reply.status(503).send({ status: 'not_ready', reason: 'database' });
      }
      const iscsi = deps.iscsi?.() ?? null;
      if (iscsi) {
        req.log.warn({ iscsi }, 'not ready: the disk service cannot serve');
        // the detail names another process (pid, command line): for this host only, not the boot LAN
        const detail = LOOPBACK_RE.test(req.ip ?? '') ? iscsi.detail : undefined;
        return reply.status(503).send({ status: 'not_ready', reason: iscsi.reason, detail });
      }
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/metrics',
    { schema: { hide: true }, config: { access: 'public' }, logLevel: 'warn' },
    async (req, reply) => {
      checkMetricsAccess(req, deps.metricsToken);
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },
  );
}

const LOOPBACK_RE = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/**
 * Prometheus metrics (request routes, process figures, sessions, storage) are for the operator, not
 * for the boot LAN: scraped from the server itself (the client address, as resolved through trusted
 * proxies, is loopback), or with `Authorization: Bearer <GGNET_METRICS_TOKEN>`.
 */
function checkMetricsAccess(req: FastifyRequest, token: string | undefined): void {
  if (LOOPBACK_RE.test(req.ip ?? '')) return;
  const given = bearerToken(req);
  if (token && given) {
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(token).digest();
    if (timingSafeEqual(a, b)) return;
  }
  throw new AppError(
    401,
    'metrics_token_required',
    'metrics are only served to this host or with the metrics token',
    {
      hint: token
        ? 'send "Authorization: Bearer <GGNET_METRICS_TOKEN>"'
        : 'scrape from the server itself, or set GGNET_METRICS_TOKEN and send it as a bearer token',
    },
  );
}
