import { sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../db/database.js';
import { migrationsPending } from '../../db/database.js';
import type { Metrics } from '../../http/metrics.js';
import type { App } from '../../http/types.js';

export function registerHealthRoutes(
  app: App,
  deps: { database: Database; metrics: Metrics; version: string },
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
          200: z.object({ status: z.literal('ready'), database: z.string(), dialect: z.string() }),
          503: z.object({ status: z.literal('not_ready'), reason: z.string() }),
        },
      },
      config: { access: 'public' },
      logLevel: 'warn',
    },
    async (_req, reply) => {
      try {
        await sql`select 1`.execute(deps.database.db);
        const pending = await migrationsPending(deps.database);
        if (pending > 0) {
          return reply.status(503).send({ status: 'not_ready', reason: `${pending} migration(s) pending` });
        }
      } catch (err) {
        return reply
          .status(503)
          .send({ status: 'not_ready', reason: `database unreachable: ${(err as Error).message}` });
      }
      return { status: 'ready' as const, database: deps.database.location, dialect: deps.database.dialect };
    },
  );

  app.get(
    '/metrics',
    { schema: { hide: true }, config: { access: 'public' }, logLevel: 'warn' },
    async (_req, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },
  );
}
