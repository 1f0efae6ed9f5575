import type { WebSocket } from 'ws';
import { z } from 'zod';
import { EventsAuth, type LiveEvent } from '@ggnet/contracts';
import type { EventBus } from '../../events/event-bus.js';
import type { App } from '../../http/types.js';
import type { AuthService, AuthUser } from '../auth/auth.service.js';

/** Topics only admins receive (user accounts). */
const ADMIN_ONLY = /^(user|settings)\./;

/**
 * GET /api/v1/events (WebSocket). The access token comes in the query (`?token=`) or as the first
 * message `{"type":"auth","token":"..."}` within 10 s. Then every change is pushed as
 * `{type, id, data}`; a `{"type":"ready"}` message confirms the subscription.
 */
export function registerEventsRoutes(app: App, deps: { bus: EventBus; auth: AuthService }) {
  app.get(
    '/api/v1/events',
    {
      websocket: true,
      schema: {
        tags: ['events'],
        security: [],
        summary: 'Live events (WebSocket): token in ?token= or in the first message',
        querystring: z.object({ token: z.string().max(4096).optional() }),
      },
      // authentication happens on the socket (browsers cannot set headers on a WebSocket)
      config: { access: 'public' },
    },
    (socket: WebSocket, req) => {
      let user: AuthUser | null = null;
      let unsubscribe: (() => void) | null = null;
      const send = (e: LiveEvent | { type: string; [k: string]: unknown }) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(e));
      };
      const start = (u: AuthUser) => {
        user = u;
        clearTimeout(authTimer);
        unsubscribe = deps.bus.subscribe((e) => {
          if (ADMIN_ONLY.test(e.type) && user?.role !== 'admin') return;
          send(e);
        });
        send({ type: 'ready', user: { id: u.id, username: u.username, role: u.role } });
      };
      const fail = (reason: string) => {
        send({ type: 'error', code: 'unauthorized', detail: reason });
        socket.close(4401, reason.slice(0, 100));
      };
      const authTimer = setTimeout(() => fail('no token within 10 s'), 10_000);
      const ping = setInterval(() => socket.ping(), 30_000);
      socket.on('close', () => {
        clearTimeout(authTimer);
        clearInterval(ping);
        unsubscribe?.();
      });
      const query = req.query;
      if (query.token) {
        deps.auth.authenticate(query.token).then(start, (err: Error) => fail(err.message));
      }
      socket.on('message', (raw: Buffer) => {
        if (user) return; // the stream is one-way after authentication
        let msg: unknown;
        try {
          msg = JSON.parse(raw.toString('utf8'));
        } catch {
          return fail('first message must be JSON {"type":"auth","token":"..."}');
        }
        const parsed = EventsAuth.safeParse(msg);
        if (!parsed.success) return fail('first message must be {"type":"auth","token":"..."}');
        deps.auth.authenticate(parsed.data.token).then(start, (err: Error) => fail(err.message));
      });
    },
  );
}
