import { IdParams, Target, TargetListQuery, page } from '@ggnet/contracts';
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
        summary: 'List iSCSI targets (admins may add ?reveal=true for CHAP secrets)',
        querystring: TargetListQuery,
        response: { 200: page(Target) },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.targets.list(req.query, req.user!.role === 'admin'),
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
}
