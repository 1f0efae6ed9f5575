import {
  IdParams,
  Image,
  ImageCreate,
  ImageListQuery,
  ImageUpdate,
  ImageVersion,
  VersionParams,
  VersionUpdate,
  page,
} from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { ImagesService } from './images.service.js';

export function registerImagesRoutes(app: App, deps: { images: ImagesService }) {
  const tags = ['images'];
  const read = { access: 'viewer' as const };
  const write = { access: 'operator' as const, targetType: 'image' };
  app.get(
    '/api/v1/images',
    {
      schema: { tags, summary: 'List images', querystring: ImageListQuery, response: { 200: page(Image) } },
      config: read,
    },
    async (req) => deps.images.list(req.query),
  );
  app.post(
    '/api/v1/images',
    {
      schema: {
        tags,
        summary: 'Create an image record (then upload its content)',
        body: ImageCreate,
        response: { 201: Image },
      },
      config: { ...write, audit: 'image.create' },
    },
    async (req, reply) => {
      const img = await deps.images.create(req.body, req.user!.username);
      req.auditTarget = { type: 'image', id: img.id };
      return reply.status(201).send(img);
    },
  );
  app.get(
    '/api/v1/images/:id',
    { schema: { tags, summary: 'Get an image', params: IdParams, response: { 200: Image } }, config: read },
    async (req) => deps.images.get(req.params.id),
  );
  app.patch(
    '/api/v1/images/:id',
    {
      schema: {
        tags,
        summary: 'Rename or describe an image',
        params: IdParams,
        body: ImageUpdate,
        response: { 200: Image },
      },
      config: { ...write, audit: 'image.update' },
    },
    async (req) => deps.images.update(req.params.id, req.body),
  );
  app.delete(
    '/api/v1/images/:id',
    {
      schema: { tags, summary: 'Delete an image and all its versions', params: IdParams },
      config: { ...write, audit: 'image.delete' },
    },
    async (req, reply) => {
      await deps.images.delete(req.params.id);
      return reply.status(204).send();
    },
  );

  const vtags = ['versions'];
  const vwrite = { access: 'operator' as const, targetType: 'version' };
  app.get(
    '/api/v1/images/:id/versions',
    {
      schema: {
        tags: vtags,
        summary: 'List the versions of an image, newest first',
        params: IdParams,
        response: { 200: page(ImageVersion) },
      },
      config: read,
    },
    async (req) => {
      const items = await deps.images.listVersions(req.params.id);
      return { items, total: items.length };
    },
  );
  app.get(
    '/api/v1/images/:id/versions/:versionId',
    {
      schema: {
        tags: vtags,
        summary: 'Get a version',
        params: VersionParams,
        response: { 200: ImageVersion },
      },
      config: read,
    },
    async (req) => deps.images.getVersion(req.params.id, req.params.versionId),
  );
  app.patch(
    '/api/v1/images/:id/versions/:versionId',
    {
      schema: {
        tags: vtags,
        summary: 'Comment or protect a version',
        params: VersionParams,
        body: VersionUpdate,
        response: { 200: ImageVersion },
      },
      config: { ...vwrite, audit: 'version.update' },
    },
    async (req) => {
      req.auditTarget = { type: 'version', id: req.params.versionId };
      return deps.images.updateVersion(req.params.id, req.params.versionId, req.body);
    },
  );
  app.post(
    '/api/v1/images/:id/versions/:versionId/publish',
    {
      schema: {
        tags: vtags,
        summary: 'Publish a version (instant; rollback = publish an older one)',
        params: VersionParams,
        response: { 200: ImageVersion },
      },
      config: { ...vwrite, audit: 'version.publish' },
    },
    async (req) => {
      req.auditTarget = { type: 'version', id: req.params.versionId };
      return deps.images.publishVersion(req.params.id, req.params.versionId);
    },
  );
  app.delete(
    '/api/v1/images/:id/versions/:versionId',
    {
      schema: {
        tags: vtags,
        summary: 'Delete a version (not the published one, not one in use)',
        params: VersionParams,
      },
      config: { ...vwrite, audit: 'version.delete' },
    },
    async (req, reply) => {
      req.auditTarget = { type: 'version', id: req.params.versionId };
      await deps.images.deleteVersion(req.params.id, req.params.versionId);
      return reply.status(204).send();
    },
  );
}
