import type { FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  BootEvent,
  BootEventListQuery,
  BootReadyRequest,
  BootReadyResponse,
  BootScriptQuery,
  BootStats,
  BootStatsQuery,
  normalizeMac,
  page,
} from '@ggnet/contracts';
import { z } from 'zod';
import { tooManyRequests, unavailable } from '../../errors/app-error.js';
import { sendProblem } from '../../errors/problem.js';
import type { App } from '../../http/types.js';
import { limitedScript, type BootRateLimits } from './boot-limits.js';
import type { BootService } from './boot.service.js';
import { serveBootMedia } from '../media/media.routes.js';
import type { MediaService } from '../media/media.service.js';

export interface BootEndpointDeps {
  boot: BootService;
  /** Rate limits per MAC and per client address. */
  limits?: BootRateLimits;
  /** Main server only: true = /boot/* is served on the boot listener only (404 here). */
  refuse?: () => Promise<boolean>;
  /** Install media (`GET /boot/media/{id}.iso` for a machine in install mode). */
  media?: MediaService;
}

const HOST_HEADER_RE = /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/;

/** How the client reached us: its Host header, else the local address of its connection. */
async function baseUrl(req: FastifyRequest, boot: BootService): Promise<string> {
  const host = req.headers.host;
  if (host && HOST_HEADER_RE.test(host)) return `http://${host}`;
  const local = req.socket.localAddress?.replace(/^::ffff:/, '');
  if (local && /^\d{1,3}(\.\d{1,3}){3}$/.test(local)) return `http://${local}:${req.socket.localPort}`;
  const fallback = await boot.fallbackBaseUrl();
  if (fallback) return fallback;
  throw unavailable('no_boot_address', 'cannot tell clients how to reach GGnet', 'set network.bootAddr');
}

const clientIp = (req: FastifyRequest) => (req.ip ?? '').replace(/^::ffff:/, '');

/**
 * The unauthenticated boot endpoints iPXE and booted clients call. Registered on the main server
 * and, when network.bootHttpPort is set, on a plain-HTTP listener of their own.
 */
export async function registerBootEndpoints(app: App, deps: BootEndpointDeps): Promise<void> {
  await app.register(async (plain) => {
    const scope = plain.withTypeProvider<ZodTypeProvider>();
    // network.bootEndpointOnlyOnBootListener: the API's port does not serve the boot network
    const refuse = deps.refuse;
    if (refuse) {
      plain.addHook('onRequest', async (req, reply) => {
        if (!(await refuse())) return;
        return sendProblem(reply, {
          status: 404,
          code: 'not_found',
          detail: `no route ${req.method} ${req.url.split('?')[0]}`,
          hint: 'the boot endpoint is served on the boot listener only (network.bootHttpPort)',
          requestId: String(req.id),
        });
      });
    }
    // busybox/curl `--post-data ''` sends a form content type; the body is ignored or tiny
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 1024 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    scope.get(
      '/boot/ipxe',
      {
        schema: {
          tags: ['boot'],
          summary: 'iPXE boot script for the calling machine (no login; reveals only what that MAC needs)',
          querystring: BootScriptQuery,
        },
        config: { access: 'public' },
        logLevel: 'warn',
      },
      async (req, reply) => {
        const ip = clientIp(req);
        const base = await baseUrl(req, deps.boot);
        const limited = await deps.limits?.check(normalizeMac(req.query.mac ?? ''), ip);
        if (limited && !limited.ok) {
          const mode = req.query.mode;
          return reply
            .header('cache-control', 'no-store')
            .header('x-ggnet-boot-result', 'rate_limited')
            .type('text/plain; charset=utf-8')
            .send(limitedScript(base, limited.retryAfterSec, mode));
        }
        const r = await deps.boot.script({ ...req.query, clientIp: ip, baseUrl: base });
        return reply
          .header('cache-control', 'no-store')
          .header('x-ggnet-boot-result', r.result)
          .type('text/plain; charset=utf-8')
          .send(r.script);
      },
    );
    const media = deps.media;
    if (media) {
      scope.get(
        '/boot/media/:file',
        {
          schema: {
            tags: ['boot'],
            summary:
              'The install medium (ISO) of the machine at this address in install mode, by byte ranges (iPXE sanboot over HTTP)',
            params: z.object({ file: z.string().max(64) }),
          },
          config: { access: 'public' },
          logLevel: 'warn',
        },
        async (req, reply) => serveBootMedia(req, reply, media, clientIp(req), req.params.file),
      );
    }
    scope.post(
      '/boot/ready',
      {
        schema: {
          tags: ['boot'],
          summary: 'The booted OS reports that it is up (optional; only from the address of a live session)',
          querystring: z.object({ mac: z.string().max(40).optional() }),
          body: BootReadyRequest,
          response: { 200: BootReadyResponse },
        },
        config: { access: 'public' },
      },
      async (req) => {
        const mac = req.body?.mac ?? req.query.mac;
        const limited = await deps.limits?.check(normalizeMac(mac ?? ''), clientIp(req));
        if (limited && !limited.ok) {
          throw tooManyRequests('too many boot requests from this client', limited.retryAfterSec);
        }
        return deps.boot.ready({ mac }, clientIp(req));
      },
    );
  });
}

export function registerBootApiRoutes(app: App, deps: { boot: BootService }): void {
  app.get(
    '/api/v1/boot/events',
    {
      schema: {
        tags: ['boot'],
        summary: 'Recent boot events (DHCP, TFTP, script, iSCSI, OS up), also of unknown and pending clients',
        querystring: BootEventListQuery,
        response: { 200: page(BootEvent) },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.boot.events(req.query),
  );
  app.get(
    '/api/v1/boot/stats',
    {
      schema: {
        tags: ['boot'],
        summary:
          'Boot-time statistics from the session timelines: p50/p95 per image, phases, slowest machines',
        querystring: BootStatsQuery,
        response: { 200: BootStats },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.boot.stats(req.query),
  );
}
