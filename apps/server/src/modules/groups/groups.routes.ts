import {
  Group,
  GroupCreate,
  GroupListQuery,
  GroupUpdate,
  IdParams,
  ImageRelease,
  RingAction,
  RingRelease,
  page,
} from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { GroupsService } from './groups.service.js';
import type { ReleasesService } from './releases.service.js';

export function registerGroupsRoutes(app: App, deps: { groups: GroupsService; releases: ReleasesService }) {
  const tags = ['groups'];
  const read = { access: 'viewer' as const };
  const write = { access: 'operator' as const, targetType: 'group' };
  app.get(
    '/api/v1/groups',
    {
      schema: {
        tags,
        summary: 'List groups (rooms): search, sort, paginate; imageId = groups with a ring release of it',
        querystring: GroupListQuery,
        response: { 200: page(Group) },
      },
      config: read,
    },
    async (req) => deps.groups.list(req.query),
  );
  app.post(
    '/api/v1/groups',
    {
      schema: { tags, summary: 'Create a group', body: GroupCreate, response: { 201: Group } },
      config: { ...write, audit: 'group.create' },
    },
    async (req, reply) => {
      const g = await deps.groups.create(req.body);
      req.auditTarget = { type: 'group', id: g.id };
      return reply.status(201).send(g);
    },
  );
  app.get(
    '/api/v1/groups/:id',
    {
      schema: { tags, summary: 'Get a group', params: IdParams, response: { 200: Group } },
      config: read,
    },
    async (req) => deps.groups.get(req.params.id),
  );
  app.patch(
    '/api/v1/groups/:id',
    {
      schema: {
        tags,
        summary: 'Change a group (null clears a setting: its machines then inherit the global default)',
        params: IdParams,
        body: GroupUpdate,
        response: { 200: Group },
      },
      config: { ...write, audit: 'group.update' },
    },
    async (req) => deps.groups.update(req.params.id, req.body),
  );
  app.delete(
    '/api/v1/groups/:id',
    {
      schema: { tags, summary: 'Delete a group (its machines stay, in no group)', params: IdParams },
      config: { ...write, audit: 'group.delete' },
    },
    async (req, reply) => {
      await deps.groups.delete(req.params.id);
      return reply.status(204).send();
    },
  );

  // ---- staged releases (rings) ----
  const rtags = ['releases'];
  const rwrite = { access: 'operator' as const, targetType: 'version' };
  app.get(
    '/api/v1/images/:id/release',
    {
      schema: {
        tags: rtags,
        summary:
          'Which version each group boots of this image, and how many of its PCs run which version now',
        params: IdParams,
        response: { 200: ImageRelease },
      },
      config: read,
    },
    async (req) => deps.releases.state(req.params.id),
  );
  app.post(
    '/api/v1/images/:id/release',
    {
      schema: {
        tags: rtags,
        summary:
          'Release a ready version to some groups before everyone (a ring); they boot it at their next boot',
        params: IdParams,
        body: RingRelease,
        response: { 200: ImageRelease },
      },
      config: { ...rwrite, audit: 'release.ring' },
    },
    async (req) => {
      req.auditTarget = { type: 'version', id: req.body.versionId };
      return deps.releases.release(req.params.id, req.body, req.user?.username ?? null);
    },
  );
  app.post(
    '/api/v1/images/:id/release/promote',
    {
      schema: {
        tags: rtags,
        summary: "Promote a ring's version: publish it to everyone and end the ring",
        params: IdParams,
        body: RingAction,
        response: { 200: ImageRelease },
      },
      config: { ...rwrite, audit: 'release.promote' },
    },
    async (req) => {
      req.auditTarget = { type: 'version', id: req.body.versionId };
      return deps.releases.promote(req.params.id, req.body.versionId);
    },
  );
  app.post(
    '/api/v1/images/:id/release/rollback',
    {
      schema: {
        tags: rtags,
        summary: 'Roll back a ring: its groups boot the published version again at their next boot',
        params: IdParams,
        body: RingAction,
        response: { 200: ImageRelease },
      },
      config: { ...rwrite, audit: 'release.rollback' },
    },
    async (req) => {
      req.auditTarget = { type: 'version', id: req.body.versionId };
      return deps.releases.rollback(req.params.id, req.body.versionId);
    },
  );
}
