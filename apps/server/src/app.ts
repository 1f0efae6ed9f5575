import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Container } from './container.js';
import { registerErrorHandling, sendProblem } from './errors/problem.js';
import { registerAudit } from './http/audit.hooks.js';
import { registerAuth } from './http/auth.hooks.js';
import { registerInputGuard } from './http/input-guard.js';
import { applyServerLimits } from './http/server-limits.js';
import { registerSecurityHeaders } from './http/security-headers.js';
import type { App } from './http/types.js';
import { registerAlertsRoutes } from './modules/alerts/alerts.routes.js';
import { registerAuditRoutes } from './modules/audit/audit.routes.js';
import { registerBackupRoutes } from './modules/backup/backup.routes.js';
import { registerAuthRoutes } from './modules/auth/auth.routes.js';
import { registerBootApiRoutes, registerBootEndpoints } from './modules/boot/boot.routes.js';
import { registerMaintenanceRoutes } from './modules/boot/maintenance.routes.js';
import { registerDhcpRoutes } from './modules/dhcp/dhcp.routes.js';
import { registerEventsRoutes } from './modules/events/events.routes.js';
import { registerHealthRoutes } from './modules/health/health.routes.js';
import { registerMediaRoutes } from './modules/media/media.routes.js';
import { registerImagesRoutes } from './modules/images/images.routes.js';
import { registerIscsiRoutes } from './modules/reconcile/iscsi.routes.js';
import { registerStorageRoutes } from './modules/writebacks/storage.routes.js';
import { registerJobsRoutes } from './modules/jobs/jobs.routes.js';
import { registerMachinesRoutes } from './modules/machines/machines.routes.js';
import { registerGroupsRoutes } from './modules/groups/groups.routes.js';
import { registerSessionsRoutes } from './modules/sessions/sessions.routes.js';
import { registerTrafficRoutes } from './modules/traffic/traffic.routes.js';
import { registerSettingsRoutes } from './modules/settings/settings.routes.js';
import { registerTargetsRoutes } from './modules/targets/targets.routes.js';
import { registerUsersRoutes } from './modules/users/users.routes.js';
import { registerPowerRoutes } from './modules/power/power.routes.js';
import { createTus, registerUploadsRoutes } from './modules/uploads/uploads.routes.js';

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{8,100}$/;

/** Where the built web UI is: config.webDir, else apps/web/dist next to this package. */
function webDir(c: Container): string | null {
  const candidates = [
    c.config.webDir,
    resolve(dirname(fileURLToPath(import.meta.url)), '../../web/dist'),
  ].filter((d): d is string => !!d);
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? null;
}

export interface AppExtensions {
  /** Later modules (uploads, boot endpoint...) register their routes here. */
  routes?: Array<(app: App) => void | Promise<void>>;
}

export async function buildApp(c: Container, ext: AppExtensions = {}): Promise<App> {
  // typed as Fastify's logger so that the instance type is App (pino's Logger is wider)
  const logger: FastifyBaseLogger = c.log;
  const app = Fastify({
    loggerInstance: logger,
    // the client address is the right-most X-Forwarded-For entry that is not a trusted proxy
    trustProxy: c.config.trustProxy.length ? c.config.trustProxy : false,
    bodyLimit: 1024 * 1024,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false } },
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (req, reply, payload) => {
    void reply.header('x-request-id', String(req.id));
    return payload;
  });

  registerErrorHandling(app);
  registerSecurityHeaders(app);
  c.metrics.register(app);
  applyServerLimits(app, {
    maxConnections: c.config.maxConnections,
    bodyTimeoutMs: c.config.bodyTimeoutSec * 1000,
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'GGnet API',
        version: c.version,
        description:
          'Diskless boot server: machines, images and versions, iSCSI targets, boot sessions. ' +
          'Log in with POST /api/v1/auth/login and send `Authorization: Bearer <accessToken>`. ' +
          'Errors are application/problem+json with a stable `code` and a `hint`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/api/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true },
    // the docs page gets swagger-ui's own CSP (scripts from 'self' only), not framable, with the
    // inline styles swagger-ui sets, and without upgrade-insecure-requests (GGnet often runs on plain
    // HTTP inside the LAN)
    staticCSP: true,
    transformStaticCSP: (h: string) =>
      h
        .replace(/\s*upgrade-insecure-requests;?/, '')
        .replace("frame-ancestors 'self'", "frame-ancestors 'none'")
        // swagger-ui sets inline styles (style attributes and a <style> element)
        .replace(/style-src [^;]*;/, "style-src 'self' 'unsafe-inline';"),
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });

  registerAuth(app, c.auth);
  registerInputGuard(app);
  registerAudit(app, c.repos.audit, c.log);

  registerHealthRoutes(app, {
    database: c.database,
    metrics: c.metrics,
    version: c.version,
    metricsToken: c.config.metricsToken,
  });
  registerAuthRoutes(app, { auth: c.auth, users: c.users, refreshTokenTtlSec: c.config.refreshTokenTtlSec });
  registerUsersRoutes(app, { users: c.users });
  registerMachinesRoutes(app, { machines: c.machines });
  registerGroupsRoutes(app, { groups: c.groups, releases: c.releases });
  registerImagesRoutes(app, { images: c.images });
  registerMediaRoutes(app, { media: c.media });
  await registerUploadsRoutes(app, {
    uploads: c.uploads,
    tus: createTus(c.tusStore, c.uploads, c.log),
    repo: c.repos.images,
  });
  registerTargetsRoutes(app, { targets: c.targets });
  registerSessionsRoutes(app, { sessions: c.sessions });
  registerTrafficRoutes(app, { traffic: c.traffic });
  registerStorageRoutes(app, { storage: c.storage });
  registerIscsiRoutes(app, { iscsi: c.iscsi, reconciler: c.reconciler });
  registerJobsRoutes(app, { jobs: c.jobs });
  registerSettingsRoutes(app, { settings: c.settings });
  registerAuditRoutes(app, { audit: c.repos.audit });
  registerBackupRoutes(app, { backups: c.backups, jobs: c.jobs });
  registerAlertsRoutes(app, { alerts: c.alerts });
  registerEventsRoutes(app, { bus: c.bus, auth: c.auth });
  await registerBootEndpoints(app, {
    boot: c.boot,
    limits: c.bootLimits,
    media: c.media,
    refuse: async () => (await c.settings.get()).network.bootEndpointOnlyOnBootListener,
  });
  registerBootApiRoutes(app, { boot: c.boot });
  registerMaintenanceRoutes(app, { gate: c.maintenance });
  registerDhcpRoutes(app, { dhcp: c.dhcp });
  registerPowerRoutes(app, { wake: c.wake, schedules: c.powerSchedules });
  for (const r of ext.routes ?? []) await r(app);

  app.get('/api/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () =>
    app.swagger(),
  );

  const web = webDir(c);
  if (web) {
    await app.register(fastifyStatic, { root: web, prefix: '/', wildcard: false, index: ['index.html'] });
  }
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0]!;
    // client-side routes of the single-page UI get index.html; everything else is a problem+json 404
    if (
      web &&
      req.method === 'GET' &&
      !/^\/(api|boot|metrics|healthz|readyz)(\/|$)/.test(path) &&
      !path.includes('.')
    ) {
      return reply.type('text/html').sendFile('index.html');
    }
    return sendProblem(reply, {
      status: 404,
      code: 'not_found',
      detail: `no route ${req.method} ${path}`,
      hint: 'the API is documented at /api/docs',
      requestId: String(req.id),
    });
  });

  return app;
}
