import {
  IdParams,
  Machine,
  MachineBulk,
  MachineBulkResult,
  MachineCreate,
  MachineImportRequest,
  MachineImportResult,
  MachineListQuery,
  MachineUpdate,
  page,
} from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { MachinesService } from './machines.service.js';

export function registerMachinesRoutes(app: App, deps: { machines: MachinesService }) {
  const tags = ['machines'];
  const read = { access: 'viewer' as const };
  const write = { access: 'operator' as const, targetType: 'machine' };
  app.get(
    '/api/v1/machines',
    {
      schema: {
        tags,
        summary: 'List machines (filter, search, sort, paginate)',
        querystring: MachineListQuery,
        response: { 200: page(Machine) },
      },
      config: read,
    },
    async (req) => deps.machines.list(req.query),
  );
  app.post(
    '/api/v1/machines',
    {
      schema: { tags, summary: 'Register a machine', body: MachineCreate, response: { 201: Machine } },
      config: { ...write, audit: 'machine.create' },
    },
    async (req, reply) => {
      const m = await deps.machines.create(req.body);
      req.auditTarget = { type: 'machine', id: m.id };
      return reply.status(201).send(m);
    },
  );
  app.post(
    '/api/v1/machines/import',
    {
      schema: {
        tags,
        summary: 'Import machines from CSV (all or nothing)',
        body: MachineImportRequest,
        response: { 200: MachineImportResult },
      },
      config: { ...write, audit: 'machine.import' },
      bodyLimit: 4 * 1024 * 1024,
    },
    async (req) => deps.machines.importCsv(req.body.csv, req.body.dryRun),
  );
  app.post(
    '/api/v1/machines/bulk',
    {
      schema: {
        tags,
        summary: 'Enable, disable, assign image, set boot mode, approve or delete many machines',
        body: MachineBulk,
        response: { 200: MachineBulkResult },
      },
      config: { ...write, audit: 'machine.bulk' },
    },
    async (req) => deps.machines.bulk(req.body),
  );
  app.get(
    '/api/v1/machines/:id',
    {
      schema: { tags, summary: 'Get a machine', params: IdParams, response: { 200: Machine } },
      config: read,
    },
    async (req) => deps.machines.get(req.params.id),
  );
  app.patch(
    '/api/v1/machines/:id',
    {
      schema: {
        tags,
        summary: 'Change a machine (pending: false approves it)',
        params: IdParams,
        body: MachineUpdate,
        response: { 200: Machine },
      },
      config: { ...write, audit: 'machine.update' },
    },
    async (req) => deps.machines.update(req.params.id, req.body),
  );
  app.delete(
    '/api/v1/machines/:id',
    {
      schema: { tags, summary: 'Delete a machine', params: IdParams },
      config: { ...write, audit: 'machine.delete' },
    },
    async (req, reply) => {
      await deps.machines.delete(req.params.id);
      return reply.status(204).send();
    },
  );
}
