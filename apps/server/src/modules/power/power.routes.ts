import {
  IdParams,
  Schedule,
  ScheduleCreate,
  ScheduleList,
  ScheduleUpdate,
  WakeRequest,
  WakeResult,
} from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { PowerSchedules } from './schedules.service.js';
import type { WakeService } from './wake.service.js';

export function registerPowerRoutes(app: App, deps: { wake: WakeService; schedules: PowerSchedules }) {
  const by = (req: { user: { username: string } | null }) => ({ by: req.user?.username ?? 'unknown' });
  app.post(
    '/api/v1/machines/:id/wake',
    {
      schema: {
        tags: ['machines', 'power'],
        summary: 'Wake a machine (Wake-on-LAN magic packet on the boot network)',
        params: IdParams,
        response: { 202: WakeResult },
      },
      config: { access: 'operator', audit: 'machine.wake', targetType: 'machine' },
    },
    async (req, reply) => reply.status(202).send(await deps.wake.wakeOne(req.params.id, by(req))),
  );
  app.post(
    '/api/v1/machines/wake',
    {
      schema: {
        tags: ['machines', 'power'],
        summary:
          'Wake a selection of machines ({machineIds}) or all enabled, approved ones ({all: true}), paced',
        body: WakeRequest,
        response: { 202: WakeResult },
      },
      config: { access: 'operator', audit: 'machine.wake', targetType: 'machine' },
    },
    async (req, reply) => {
      req.auditTarget = {
        type: 'machine',
        id: 'all' in req.body ? 'all' : `${req.body.machineIds.length} machines`,
      };
      return reply.status(202).send(await deps.wake.wake(req.body, by(req)));
    },
  );
  app.post(
    '/api/v1/groups/:id/wake',
    {
      schema: {
        tags: ['groups', 'power'],
        summary: "Wake a group's machines (enabled, approved ones; the others are listed as skipped), paced",
        params: IdParams,
        response: { 202: WakeResult },
      },
      config: { access: 'operator', audit: 'group.wake', targetType: 'group' },
    },
    async (req, reply) => reply.status(202).send(await deps.wake.wakeGroup(req.params.id, by(req))),
  );

  const tags = ['power'];
  const write = { access: 'operator' as const, targetType: 'schedule' };
  app.get(
    '/api/v1/power/schedules',
    {
      schema: {
        tags,
        summary: 'List power schedules (with their next slot)',
        response: { 200: ScheduleList },
      },
      config: { access: 'viewer' },
    },
    async () => deps.schedules.list(),
  );
  app.post(
    '/api/v1/power/schedules',
    {
      schema: {
        tags,
        summary: 'Create a power schedule (wake or shutdown on given days and times, site time zone)',
        body: ScheduleCreate,
        response: { 201: Schedule },
      },
      config: { ...write, audit: 'power.schedule.create' },
    },
    async (req, reply) => {
      const s = await deps.schedules.create(req.body, req.user?.username ?? null);
      req.auditTarget = { type: 'schedule', id: s.id };
      return reply.status(201).send(s);
    },
  );
  app.get(
    '/api/v1/power/schedules/:id',
    {
      schema: { tags, summary: 'Get a power schedule', params: IdParams, response: { 200: Schedule } },
      config: { access: 'viewer' },
    },
    async (req) => deps.schedules.get(req.params.id),
  );
  app.patch(
    '/api/v1/power/schedules/:id',
    {
      schema: {
        tags,
        summary: 'Change a power schedule',
        params: IdParams,
        body: ScheduleUpdate,
        response: { 200: Schedule },
      },
      config: { ...write, audit: 'power.schedule.update' },
    },
    async (req) => deps.schedules.update(req.params.id, req.body),
  );
  app.delete(
    '/api/v1/power/schedules/:id',
    {
      schema: { tags, summary: 'Delete a power schedule', params: IdParams },
      config: { ...write, audit: 'power.schedule.delete' },
    },
    async (req, reply) => {
      await deps.schedules.delete(req.params.id);
      return reply.status(204).send();
    },
  );
}
