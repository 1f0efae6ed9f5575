import { IdParams, Job, JobListQuery, page } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { JobsService } from './jobs.service.js';

export function registerJobsRoutes(app: App, deps: { jobs: JobsService }) {
  const tags = ['jobs'];
  app.get(
    '/api/v1/jobs',
    {
      schema: {
        tags,
        summary: 'List background jobs',
        querystring: JobListQuery,
        response: { 200: page(Job) },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.jobs.list(req.query),
  );
  app.get(
    '/api/v1/jobs/:id',
    {
      schema: { tags, summary: 'Get a job', params: IdParams, response: { 200: Job } },
      config: { access: 'viewer' },
    },
    async (req) => deps.jobs.get(req.params.id),
  );
  app.post(
    '/api/v1/jobs/:id/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel a job (a running one has its process killed)',
        params: IdParams,
        response: { 200: Job },
      },
      config: { access: 'operator', audit: 'job.cancel', targetType: 'job' },
    },
    async (req) => deps.jobs.cancel(req.params.id),
  );
}
