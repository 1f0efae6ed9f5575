import {
  ApplyWriteback,
  IdParams,
  ImageVersion,
  Session,
  SessionListQuery,
  SessionStart,
  SessionStartResult,
  SessionStop,
  SessionTimeline,
  page,
} from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { SessionsService } from './sessions.service.js';

export function registerSessionsRoutes(app: App, deps: { sessions: SessionsService }) {
  const tags = ['sessions'];
  app.get(
    '/api/v1/sessions',
    {
      schema: {
        tags,
        summary: 'List boot sessions',
        querystring: SessionListQuery,
        response: { 200: page(Session) },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.sessions.list(req.query),
  );
  app.post(
    '/api/v1/sessions',
    {
      schema: {
        tags,
        summary:
          'Start a session for a machine (what a boot does): ends its previous session, makes a fresh writeback and target; returns the iSCSI connection details with the CHAP secret',
        body: SessionStart,
        response: { 201: SessionStartResult },
      },
      config: { access: 'admin', audit: 'session.start', targetType: 'session' },
    },
    async (req, reply) => {
      const out = await deps.sessions.start(req.body);
      req.auditTarget = { type: 'session', id: out.sessionId };
      return reply.status(201).send(out);
    },
  );
  app.get(
    '/api/v1/sessions/:id',
    {
      schema: { tags, summary: 'Get a session', params: IdParams, response: { 200: Session } },
      config: { access: 'viewer' },
    },
    async (req) => deps.sessions.get(req.params.id),
  );
  app.get(
    '/api/v1/sessions/:id/timeline',
    {
      schema: {
        tags,
        summary: 'Boot timeline: DHCP, TFTP, script, iSCSI login, OS up',
        params: IdParams,
        response: { 200: SessionTimeline },
      },
      config: { access: 'viewer' },
    },
    async (req) => ({ items: await deps.sessions.timeline(req.params.id) }),
  );
  app.post(
    '/api/v1/sessions/:id/stop',
    {
      schema: {
        tags,
        summary: 'End a session: its target is removed, its writeback discarded unless kept',
        params: IdParams,
        body: SessionStop.nullish(),
        response: { 200: Session },
      },
      config: { access: 'operator', audit: 'session.stop', targetType: 'session' },
    },
    async (req) => deps.sessions.stop(req.params.id, req.body ?? {}),
  );
  app.post(
    '/api/v1/sessions/:id/apply',
    {
      schema: {
        tags,
        summary:
          "Turn the session's boot disk into a new image version (maintenance); refused while the client is logged in unless force",
        params: IdParams,
        body: ApplyWriteback,
        response: { 201: ImageVersion },
      },
      config: { access: 'operator', audit: 'session.apply', targetType: 'session' },
    },
    async (req, reply) => {
      const v = await deps.sessions.apply(req.params.id, req.body, req.user!.username);
      return reply.status(201).send(v);
    },
  );
}
