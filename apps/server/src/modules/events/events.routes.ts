import type { WebSocket } from 'ws';
import { z } from 'zod';
import { EventsAuth, type LiveEvent } from '@ggnet/contracts';
import { AppError } from '../../errors/app-error.js';
import type { EventBus } from '../../events/event-bus.js';
import type { App } from '../../http/types.js';
import type { AuthService, VerifiedToken } from '../auth/auth.service.js';

/** Topics only admins receive (user accounts). */
const ADMIN_ONLY = /^(user|settings)\./;
/**
 * How often an open socket checks its token again, whatever happened: catches changes made by
 * another process (the `ggnet user passwd` CLI); changes made through this server apply at once.
 */
export const RECHECK_MS = 10_000;
/** Events held back while a socket re-checks its token (milliseconds); more end the socket. */
const MAX_HELD = 1000;
/** Close code the console answers by refreshing its token and reconnecting. */
export const CLOSE_AUTH = 4401;

/**
 * GET /api/v1/events (WebSocket). The access token comes in the query (`?token=`) or as the first
 * message `{"type":"auth","token":"..."}` within 10 s. Then every change is pushed as
 * `{type, id, data}`; a `{"type":"ready"}` message confirms the subscription.
 *
 * A socket lives no longer than its token: it is closed (4401) when the token expires, and when the
 * login behind it ends or changes: the user is disabled, deleted, given a new password or another
 * role, or the login is logged out or revoked. The console then refreshes and reconnects, with
 * the user's current role, or finds the login ended.
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
      let session: { token: string; v: VerifiedToken } | null = null;
      let closed = false;
      /** While a re-check runs, events wait here (delivered after it, with the role it found). */
      let held: LiveEvent[] | null = null;
      let rechecking: Promise<void> | null = null;
      const cleanups: Array<() => void> = [];

      const send = (e: LiveEvent | { type: string; [k: string]: unknown }) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(e));
      };
      const deliver = (e: LiveEvent) => {
        if (ADMIN_ONLY.test(e.type) && session?.v.user.role !== 'admin') return;
        send(e);
      };
      const fail = (code: string, reason: string) => {
        if (closed) return;
        closed = true;
        held = null;
        for (const c of cleanups.splice(0)) c();
        send({ type: 'error', code, detail: reason });
        socket.close(CLOSE_AUTH, reason.slice(0, 100));
      };
      const failWith = (err: unknown) =>
        fail(err instanceof AppError ? err.code : 'unauthorized', (err as Error).message);

      /** Verifies the socket's token again; ends the socket when it no longer holds. */
      const recheck = (): Promise<void> => {
        if (!session || closed) return Promise.resolve();
        if (rechecking) return rechecking;
        held ??= [];
        const s = session;
        rechecking = deps.auth
          .verify(s.token)
          .then(
            (v) => {
              if (v.user.role !== s.v.user.role) {
                return fail('role_changed', `your role is now ${v.user.role}; reconnect with a fresh token`);
              }
              s.v = v;
              const waiting = held ?? [];
              held = null;
              for (const e of waiting) deliver(e);
            },
            (err: unknown) => failWith(err),
          )
          .finally(() => {
            rechecking = null;
          });
        return rechecking;
      };

      const start = (token: string, v: VerifiedToken) => {
        if (closed || session) return;
        session = { token, v };
        clearTimeout(authTimer);
        cleanups.push(
          deps.bus.subscribe((e) => {
            if (held) {
              if (held.length >= MAX_HELD) return fail('unauthorized', 'too many events while re-checking');
              held.push(e);
              return;
            }
            deliver(e);
          }),
        );
        // a change of this user or this login: hold events back (synchronously, before the change's
        // own event goes out) until the token has been checked again
        cleanups.push(
          deps.auth.watch((c) => {
            if (c.userId === v.user.id || c.familyId === v.familyId) void recheck();
          }),
        );
        const expiry = setTimeout(
          () => fail('token_expired', 'access token has expired'),
          Math.max(0, v.exp * 1000 - Date.now()),
        );
        const periodic = setInterval(() => void recheck(), RECHECK_MS);
        cleanups.push(
          () => clearTimeout(expiry),
          () => clearInterval(periodic),
        );
        send({ type: 'ready', user: { id: v.user.id, username: v.user.username, role: v.user.role } });
      };

      const authTimer = setTimeout(() => fail('unauthorized', 'no token within 10 s'), 10_000);
      const ping = setInterval(() => socket.ping(), 30_000);
      socket.on('close', () => {
        closed = true;
        clearTimeout(authTimer);
        clearInterval(ping);
        for (const c of cleanups.splice(0)) c();
      });
      const authenticate = (token: string) => {
        deps.auth.verify(token).then((v) => start(token, v), failWith);
      };
      const query = req.query;
      if (query.token) authenticate(query.token);
      socket.on('message', (raw: Buffer) => {
        if (session) return; // the stream is one-way after authentication
        let msg: unknown;
        try {
          msg = JSON.parse(raw.toString('utf8'));
        } catch {
          return fail('unauthorized', 'first message must be JSON {"type":"auth","token":"..."}');
        }
        const parsed = EventsAuth.safeParse(msg);
        if (!parsed.success)
          return fail('unauthorized', 'first message must be {"type":"auth","token":"..."}');
        authenticate(parsed.data.token);
      });
    },
  );
}
