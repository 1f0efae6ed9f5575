import {
  ApplyWriteback,
  IdParams,
  ImageVersion,
  StorageCache,
  StorageSummary,
  Writeback,
  WritebackListQuery,
  page,
} from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { StorageService } from './storage.service.js';

export function registerStorageRoutes(app: App, deps: { storage: StorageService }) {
  const tags = ['storage'];
  app.get(
    '/api/v1/storage',
    {
      schema: {
        tags,
        summary: 'Space: backend, free/total, reserve, bytes per image (versions and writebacks)',
        response: { 200: StorageSummary },
      },
      config: { access: 'viewer' },
    },
    async () => deps.storage.summary(),
  );
  app.get(
    '/api/v1/storage/cache',
    {
      schema: {
        tags,
        summary:
          'Read cache per version: page cache held by each master and its disks, bytes served vs read from disk (qcow2), hit rate',
        response: { 200: StorageCache },
      },
      config: { access: 'viewer' },
    },
    async () => deps.storage.cache.get(),
  );
  app.get(
    '/api/v1/writebacks',
    {
      schema: {
        tags,
        summary:
          'List writebacks (per-boot disks) with the bytes each owns; ?live=all includes discarded ones',
        querystring: WritebackListQuery,
        response: { 200: page(Writeback) },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.storage.list(req.query),
  );
  app.get(
    '/api/v1/writebacks/:id',
    {
      schema: { tags, summary: 'Get a writeback', params: IdParams, response: { 200: Writeback } },
      config: { access: 'viewer' },
    },
    async (req) => deps.storage.get(req.params.id),
  );
  app.delete(
    '/api/v1/writebacks/:id',
    {
      schema: {
        tags,
        summary: 'Discard a kept writeback (one in use by a session is refused)',
        params: IdParams,
      },
      config: { access: 'operator', audit: 'writeback.discard', targetType: 'writeback' },
    },
    async (req, reply) => {
      await deps.storage.discardKept(req.params.id);
      return reply.status(204).send();
    },
  );
  app.post(
    '/api/v1/writebacks/:id/apply',
    {
      schema: {
        tags,
        summary:
          'Turn a writeback into a new version of its image: a kept one is moved (no copy); one in use needs force (snapshot)',
        params: IdParams,
        body: ApplyWriteback,
        response: { 201: ImageVersion },
      },
      config: { access: 'operator', audit: 'writeback.apply', targetType: 'writeback' },
    },
    async (req, reply) => {
      const v = await deps.storage.apply(req.params.id, req.body, req.user!.username);
      return reply.status(201).send(v);
    },
  );
}
