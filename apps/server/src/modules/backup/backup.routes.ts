import { createReadStream } from 'node:fs';
import { Backup, BackupListQuery, BackupStatus, IdParams, page } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { JobsService } from '../jobs/jobs.service.js';
import { BACKUP_JOB } from './backup.job.js';
import type { BackupService } from './backup.service.js';

export function registerBackupRoutes(app: App, deps: { backups: BackupService; jobs: JobsService }) {
  const tags = ['backups'];
  const admin = { access: 'admin' as const };
  app.get(
    '/api/v1/backups',
    {
      schema: {
        tags,
        summary: 'List backups, newest first',
        querystring: BackupListQuery,
        response: { 200: page(Backup) },
      },
      config: admin,
    },
    async (req) => deps.backups.list(req.query),
  );
  app.get(
    '/api/v1/backups/status',
    {
      schema: {
        tags,
        summary: 'Backup schedule, last success and failure, space used',
        response: { 200: BackupStatus },
      },
      config: admin,
    },
    async () => deps.backups.status(),
  );
  app.post(
    '/api/v1/backups',
    {
      schema: {
        tags,
        summary: 'Make a backup now (database, secrets, configuration, settings); runs as a job',
        response: { 202: Backup },
      },
      config: { ...admin, audit: 'backup.create', targetType: 'backup' },
    },
    async (req, reply) => {
      const b = await deps.backups.queue('manual', req.user?.username ?? null);
      await deps.jobs.enqueue(
        BACKUP_JOB,
        { backupId: b.id },
        { createdBy: req.user?.id ?? null, maxAttempts: 1 },
      );
      req.auditTarget = { type: 'backup', id: b.id };
      return reply.status(202).send(b);
    },
  );
  app.get(
    '/api/v1/backups/:id',
    { schema: { tags, summary: 'Get a backup', params: IdParams, response: { 200: Backup } }, config: admin },
    async (req) => deps.backups.get(req.params.id),
  );
  app.get(
    '/api/v1/backups/:id/download',
    {
      schema: { tags, summary: 'Download a backup file (.tar.gz)', params: IdParams },
      config: { ...admin, audit: 'backup.download', targetType: 'backup' },
    },
    async (req, reply) => {
      const f = await deps.backups.fileOf(req.params.id);
      return reply
        .header('content-type', 'application/gzip')
        .header('content-length', String(f.size))
        .header('content-disposition', `attachment; filename="${f.name}"`)
        .send(createReadStream(f.path));
    },
  );
  app.delete(
    '/api/v1/backups/:id',
    {
      schema: { tags, summary: 'Delete a backup and its file', params: IdParams },
      config: { ...admin, audit: 'backup.delete', targetType: 'backup' },
    },
    async (req, reply) => {
      await deps.backups.remove(req.params.id);
      return reply.status(204).send();
    },
  );
}
