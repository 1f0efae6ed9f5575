import {
  IdParams,
  Ok,
  PasswordReset,
  User,
  UserCreate,
  UserListQuery,
  UserUpdate,
  page,
} from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { UsersService } from './users.service.js';

export function registerUsersRoutes(app: App, deps: { users: UsersService }) {
  const tags = ['users'];
  const admin = { access: 'admin' as const, targetType: 'user' };
  app.get(
    '/api/v1/users',
    {
      schema: { tags, summary: 'List users', querystring: UserListQuery, response: { 200: page(User) } },
      config: admin,
    },
    async (req) => deps.users.list(req.query),
  );
  app.post(
    '/api/v1/users',
    {
      schema: { tags, summary: 'Create a user', body: UserCreate, response: { 201: User } },
      config: { ...admin, audit: 'user.create' },
    },
    async (req, reply) => {
      const u = await deps.users.create(req.body);
      req.auditTarget = { type: 'user', id: u.id };
      return reply.status(201).send(u);
    },
  );
  app.get(
    '/api/v1/users/:id',
    { schema: { tags, summary: 'Get a user', params: IdParams, response: { 200: User } }, config: admin },
    async (req) => deps.users.get(req.params.id),
  );
  app.patch(
    '/api/v1/users/:id',
    {
      schema: {
        tags,
        summary: 'Change role or disable/enable',
        params: IdParams,
        body: UserUpdate,
        response: { 200: User },
      },
      config: { ...admin, audit: 'user.update' },
    },
    async (req) => deps.users.update(req.params.id, req.body, req.user!.id),
  );
  app.post(
    '/api/v1/users/:id/password',
    {
      schema: {
        tags,
        summary: "Reset the password (ends all of that user's logins)",
        params: IdParams,
        body: PasswordReset,
        response: { 200: Ok },
      },
      config: { ...admin, audit: 'user.password' },
    },
    async (req) => {
      await deps.users.resetPassword(req.params.id, req.body.password);
      return { ok: true as const };
    },
  );
  app.delete(
    '/api/v1/users/:id',
    {
      schema: { tags, summary: 'Delete a user', params: IdParams },
      config: { ...admin, audit: 'user.delete' },
    },
    async (req, reply) => {
      await deps.users.delete(req.params.id, req.user!.id);
      return reply.status(204).send();
    },
  );
}
