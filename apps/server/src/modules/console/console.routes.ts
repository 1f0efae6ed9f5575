import { z } from 'zod';
import { ConsoleStart, ConsoleVm, IdParams } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { AuthService } from '../auth/auth.service.js';
import type { ConsoleService } from './console.service.js';
import { proxyVnc } from './console.vnc.js';

/** `/api/v1/images/{id}/console`: the image's console VM (issue 15 point 3). */
export function registerConsoleRoutes(app: App, deps: { console: ConsoleService; auth: AuthService }): void {
  const tags = ['console'];
  app.get(
    '/api/v1/images/:id/console',
    {
      schema: { tags, summary: "The image's console VM", params: IdParams, response: { 200: ConsoleVm } },
      config: { access: 'viewer' },
    },
    async (req) => deps.console.get(req.params.id),
  );
  app.post(
    '/api/v1/images/:id/console',
    {
      schema: {
        tags,
        summary:
          "Start a VM on the server on the image's maintenance disk (a maintenance session), optionally with an install medium as a CD",
        params: IdParams,
        body: ConsoleStart.optional(),
        response: { 201: ConsoleVm },
      },
      config: { access: 'operator', audit: 'console.start', targetType: 'image' },
    },
    async (req, reply) => {
      const vm = await deps.console.start(req.params.id, req.body ?? {});
      req.auditTarget = { type: 'image', id: req.params.id };
      return reply.status(201).send(vm);
    },
  );
  app.delete(
    '/api/v1/images/:id/console',
    {
      schema: {
        tags,
        summary: 'Power the console VM off (its maintenance session and disk stay, for apply or discard)',
        params: IdParams,
        response: { 200: ConsoleVm },
      },
      config: { access: 'operator', audit: 'console.stop', targetType: 'image' },
    },
    async (req) => deps.console.stop(req.params.id),
  );
  app.post(
    '/api/v1/images/:id/console/shutdown',
    {
      schema: {
        tags,
        summary: "Press the console VM's power button (ACPI): the guest shuts itself down",
        params: IdParams,
        response: { 202: ConsoleVm },
      },
      config: { access: 'operator', audit: 'console.shutdown', targetType: 'image' },
    },
    async (req, reply) => reply.status(202).send(await deps.console.shutdown(req.params.id)),
  );
  app.get(
    '/api/v1/images/:id/console/vnc',
    {
      websocket: true,
      schema: {
        tags,
        security: [],
        summary:
          "The console VM's screen (VNC/RFB over a WebSocket, operators only): token in ?token= or in the first message",
        params: IdParams,
        querystring: z.object({ token: z.string().max(4096).optional() }),
      },
      // authentication happens on the socket (browsers cannot set headers on a WebSocket)
      config: { access: 'public' },
    },
    (socket, req) => proxyVnc(socket, req.params.id, req.query.token, deps),
  );
}
