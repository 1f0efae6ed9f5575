import { BootEvent, IdParams, Session, SessionListQuery, page } from '@ggnet/contracts';
import { z } from 'zod';
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
        response: { 200: z.object({ items: z.array(BootEvent) }) },
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
        summary: 'End a session (its target goes; its writeback too unless kept)',
        params: IdParams,
        response: { 200: Session },
      },
      config: { access: 'operator', audit: 'session.stop', targetType: 'session' },
    },
    async (req) => deps.sessions.stop(req.params.id),
  );
}
