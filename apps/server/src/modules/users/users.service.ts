import type { Page, User, UserCreate, UserListQuery, UserUpdate } from '@ggnet/contracts';
import { UserCreate as UserCreateSchema } from '@ggnet/contracts';
import { badRequest, conflict, notFound } from '../../errors/app-error.js';
import { isUniqueViolation, nowIso } from '../../db/database.js';
import { newId, randomSecret } from '../../lib/ids.js';
import type { EventBus } from '../../events/event-bus.js';
import type { RefreshTokensRepository } from '../auth/refresh-tokens.repository.js';
import { hashPassword } from '../auth/password.js';
import { toUser, type UsersRepository } from './users.repository.js';

export class UsersService {
  constructor(
    private readonly repo: UsersRepository,
    private readonly tokens: RefreshTokensRepository,
    private readonly bus: EventBus,
    private readonly onUserChanged: (id: string) => void = () => undefined,
  ) {}

  async list(q: UserListQuery): Promise<Page<User>> {
    const page = await this.repo.list(q);
    return { items: page.items.map(toUser), total: page.total };
  }

  async get(id: string): Promise<User> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('user', id);
    return toUser(row);
  }

  async create(input: UserCreate): Promise<User> {
    const data = UserCreateSchema.parse(input);
    const now = nowIso();
    const row = {
      id: newId(),
      username: data.username,
      password_hash: await hashPassword(data.password),
      role: data.role,
      disabled: data.disabled ? 1 : 0,
      created_at: now,
      updated_at: now,
      last_login_at: null,
      token_version: 0,
    };
    try {
      await this.repo.insert(row);
    } catch (err) {
      if (isUniqueViolation(err))
        throw conflict('username_taken', `user ${data.username} already exists`, 'choose another username');
      throw err;
    }
    const user = toUser(row);
    this.bus.publish('user.created', user.id, user);
    return user;
  }

  async update(id: string, patch: UserUpdate, actorId?: string): Promise<User> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('user', id);
    const demotes = patch.role !== undefined && patch.role !== 'admin' && row.role === 'admin';
    const disables = patch.disabled === true && !row.disabled && row.role === 'admin';
    if ((demotes || disables) && (await this.repo.countActiveAdmins()) <= 1) {
      throw conflict('last_admin', 'this is the last enabled admin', 'make another user admin first');
    }
    if (actorId === id && (patch.disabled === true || demotes)) {
      throw badRequest('self_lockout', 'you cannot disable or demote yourself', 'ask another admin');
    }
    const changes = {
      ...(patch.role !== undefined ? { role: patch.role } : {}),
      ...(patch.disabled !== undefined ? { disabled: patch.disabled ? 1 : 0 } : {}),
      updated_at: nowIso(),
    };
    await this.repo.update(id, changes);
    if (patch.disabled && !row.disabled) {
      // every login of the user ends now: refresh tokens and the access tokens already issued
      await this.tokens.revokeAllForUser(id, nowIso());
      await this.repo.bumpTokenVersion(id, nowIso());
    }
    this.onUserChanged(id);
    const user = toUser({ ...row, ...changes });
    this.bus.publish('user.updated', id, user);
    return user;
  }

  async resetPassword(id: string, password: string): Promise<void> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('user', id);
    await this.repo.update(id, { password_hash: await hashPassword(password), updated_at: nowIso() });
    // a new password ends every existing login of that user, access tokens included, at once
    await this.tokens.revokeAllForUser(id, nowIso());
    await this.repo.bumpTokenVersion(id, nowIso());
    this.onUserChanged(id);
  }

  async delete(id: string, actorId?: string): Promise<void> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('user', id);
    if (actorId === id) throw badRequest('self_lockout', 'you cannot delete yourself', 'ask another admin');
    if (row.role === 'admin' && !row.disabled && (await this.repo.countActiveAdmins()) <= 1) {
      throw conflict('last_admin', 'this is the last enabled admin', 'make another user admin first');
    }
    await this.repo.delete(id);
    this.onUserChanged(id);
    this.bus.publish('user.deleted', id, null);
  }

  async setPasswordByUsername(username: string, password: string): Promise<User> {
    const row = await this.repo.findByUsername(username.trim().toLowerCase());
    if (!row) throw notFound('user', username);
    await this.resetPassword(row.id, password);
    return toUser(row);
  }

  /**
   * First start with no users: creates `admin` with GGNET_ADMIN_PASSWORD, or a random password that is
   * returned so the caller prints it once.
   */
  async bootstrapAdmin(password?: string): Promise<{ created: boolean; generatedPassword?: string }> {
    if ((await this.repo.count()) > 0) return { created: false };
    const pw = password ?? randomSecret(12);
    try {
      await this.create({ username: 'admin', password: pw, role: 'admin' });
    } catch (err) {
      // another process (ggnet worker, a second serve) created it first
      if ((err as { code?: string }).code === 'username_taken') return { created: false };
      throw err;
    }
    return { created: true, generatedPassword: password ? undefined : pw };
  }
}
