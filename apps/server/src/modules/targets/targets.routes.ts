import { IdParams, Target, TargetCreate, TargetDeleteQuery, TargetListQuery, page } from '@ggnet/contracts';
import { z } from 'zod';
import type { App } from '../../http/types.js';
import type { TargetsService } from './targets.service.js';

export function registerTargetsRoutes(app: App, deps: { targets: TargetsService }) {
  const tags = ['targets'];
  app.get(
    '/api/v1/targets',
    {
      schema: {
        tags,
        summary:
          'List iSCSI targets with the initiators logged in right now (admins may add ?reveal=true for CHAP secrets)',
        querystring: TargetListQuery,
        response: { 200: page(Target) },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.targets.list(req.query, req.user!.role === 'admin'),
  );
  app.post(
    '/api/v1/targets',
    {
      schema: {
        tags,
        summary:
          'Create a manual target: a fresh copy-on-write disk of an image version for one initiator (the response includes the CHAP secret)',
        body: TargetCreate,
        response: { 201: Target },
      },
      config: { access: 'admin', audit: 'target.create', targetType: 'target' },
    },
    async (req, reply) => {
      const t = await deps.targets.create(req.body);
      req.auditTarget = { type: 'target', id: t.id };
      return reply.status(201).send(t);
    },
  );
  app.get(
    '/api/v1/targets/:id',
    {
      schema: {
        tags,
        summary: 'Get a target',
        params: IdParams,
        querystring: z.object({ reveal: z.enum(['true', 'false']).optional() }),
        response: { 200: Target },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.targets.get(req.params.id, req.user!.role === 'admin' && req.query.reveal === 'true'),
  );
  app.delete(
    '/api/v1/targets/:id',
    {
      schema: {
        tags,
        summary:
          'Delete a manual target (logged-in initiators are dropped) and its writeback unless ?keepWriteback=true',
        params: IdParams,
        querystring: TargetDeleteQuery,
      },
      config: { access: 'admin', audit: 'target.delete', targetType: 'target' },
    },
    async (req, reply) => {
      await deps.targets.delete(req.params.id, req.query.keepWriteback === 'true');
      return reply.status(204).send();
    },
  );
}
