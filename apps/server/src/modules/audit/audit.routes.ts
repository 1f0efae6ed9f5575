import { AuditEntry, AuditListQuery, page } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import { toAudit, type AuditRepository } from './audit.repository.js';

export function registerAuditRoutes(app: App, deps: { audit: AuditRepository }) {
  app.get(
    '/api/v1/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'Audit log, newest first',
        querystring: AuditListQuery,
        response: { 200: page(AuditEntry) },
      },
      config: { access: 'admin' },
    },
    async (req) => {
      const p = await deps.audit.list(req.query);
      return { items: p.items.map(toAudit), total: p.total };
    },
  );
}
