import { z } from 'zod';
import {
  Alert,
  AlertCheckResult,
  AlertListQuery,
  CleanupList,
  CleanupResult,
  Id,
  IdParams,
  Job,
  WritebackLimit,
  WritebackLimitBody,
  page,
} from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { AlertsService } from './alerts.service.js';

const MachineParams = z.object({ machineId: Id });
const CleanupBody = z.strictObject({
  /** Discard only these candidates; omitted = every listed candidate. */
  writebackIds: z.array(Id).min(1).max(1000).optional(),
});

export function registerAlertsRoutes(app: App, deps: { alerts: AlertsService }) {
  const tags = ['alerts'];
  app.get(
    '/api/v1/alerts',
    {
      schema: {
        tags,
        summary: 'Space alerts: open ones by default (?state=cleared|all for history)',
        querystring: AlertListQuery,
        response: { 200: page(Alert) },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.alerts.list(req.query),
  );
  app.get(
    '/api/v1/alerts/:id',
    {
      schema: { tags, summary: 'Get an alert', params: IdParams, response: { 200: Alert } },
      config: { access: 'viewer' },
    },
    async (req) => deps.alerts.get(req.params.id),
  );
  app.post(
    '/api/v1/alerts/:id/acknowledge',
    {
      schema: {
        tags,
        summary: 'Acknowledge an alert (it stays open until its measure is back under the threshold)',
        params: IdParams,
        response: { 200: Alert },
      },
      config: { access: 'operator', audit: 'alert.acknowledge', targetType: 'alert' },
    },
    async (req) => deps.alerts.acknowledge(req.params.id, req.user!.username),
  );
  app.post(
    '/api/v1/alerts/check',
    {
      schema: {
        tags,
        summary: 'Sample the space measures now (the server also does every alerts.intervalSec)',
        response: { 200: AlertCheckResult },
      },
      config: { access: 'operator', audit: 'alert.check', targetType: 'alert' },
    },
    async () => deps.alerts.check(),
  );
  app.post(
    '/api/v1/alerts/webhook/test',
    {
      schema: {
        tags,
        summary: 'Queue a signed webhook.test call to alerts.webhookUrl (the job tells how it went)',
        response: { 202: Job },
      },
      config: { access: 'admin', audit: 'alert.webhook_test', targetType: 'alert' },
    },
    async (req, reply) => reply.status(202).send(await deps.alerts.testWebhook(req.user!.username)),
  );
  app.get(
    '/api/v1/storage/writeback-limits',
    {
      schema: {
        tags,
        summary:
          'Per-machine soft limits of the bytes a writeback may own (others: alerts.writebackLimitBytes)',
        response: { 200: z.array(WritebackLimit) },
      },
      config: { access: 'viewer' },
    },
    async () => deps.alerts.limits(),
  );
  app.put(
    '/api/v1/storage/writeback-limits/:machineId',
    {
      schema: {
        tags,
        summary: "Set a machine's writeback soft limit",
        params: MachineParams,
        body: WritebackLimitBody,
        response: { 200: WritebackLimit },
      },
      config: { access: 'operator', audit: 'writeback_limit.set', targetType: 'machine' },
    },
    async (req) => {
      req.auditTarget = { type: 'machine', id: req.params.machineId };
      return deps.alerts.setLimit(req.params.machineId, req.body.limitBytes, req.user!.username);
    },
  );
  app.delete(
    '/api/v1/storage/writeback-limits/:machineId',
    {
      schema: { tags, summary: "Remove a machine's own writeback limit", params: MachineParams },
      config: { access: 'operator', audit: 'writeback_limit.delete', targetType: 'machine' },
    },
    async (req, reply) => {
      req.auditTarget = { type: 'machine', id: req.params.machineId };
      await deps.alerts.deleteLimit(req.params.machineId);
      return reply.status(204).send();
    },
  );
  app.get(
    '/api/v1/storage/cleanup',
    {
      schema: {
        tags,
        summary: 'Kept writebacks unused for alerts.cleanupAfterDays: candidates for cleanup',
        response: { 200: CleanupList },
      },
      config: { access: 'viewer' },
    },
    async () => deps.alerts.cleanupList(),
  );
  app.post(
    '/api/v1/storage/cleanup',
    {
      schema: {
        tags,
        summary: 'Discard cleanup candidates now (all, or the given ones); each is audited',
        body: CleanupBody,
        response: { 200: CleanupResult },
      },
      config: { access: 'operator', audit: 'writeback.cleanup', targetType: 'writeback' },
    },
    async (req) =>
      deps.alerts.cleanup(req.body.writebackIds, {
        username: req.user!.username,
        userId: req.user!.id,
        via: 'api',
      }),
  );
}
