import {
  GroupCreate as GroupCreateSchema,
  type Group,
  type GroupCreate,
  type GroupListQuery,
  type GroupUpdate,
  type IpRange,
  type Page,
} from '@ggnet/contracts';
import { badRequest, conflict, notFound } from '../../errors/app-error.js';
import { isUniqueViolation, nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import type { ImagesRepository } from '../images/images.repository.js';
import { groupByRules, ipv4ToInt } from './group-rules.js';
import { toGroup, type GroupRow, type GroupsRepository } from './groups.repository.js';

const nameTaken = (name: string) =>
  conflict('group_name_taken', `a group named ${name} already exists`, 'choose another name');

const boolCol = (v: boolean | null): number | null => (v === null ? null : v ? 1 : 0);

/** Groups (rooms): CRUD, their inheritable settings and auto-registration rules. */
export class GroupsService {
  constructor(
    private readonly repo: GroupsRepository,
    private readonly images: Pick<ImagesRepository, 'existingIds'>,
    private readonly bus: EventBus,
  ) {}

  async list(q: GroupListQuery): Promise<Page<Group>> {
    const page = await this.repo.list(q);
    const releases = await this.repo.releases(page.items.map((g) => g.id));
    return { items: page.items.map((g) => toGroup(g, releases)), total: page.total };
  }

  async get(id: string): Promise<Group> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('group', id);
    return toGroup(row, await this.repo.releases([id]));
  }

  /** The group the auto-registration rules (MAC prefix, address range) put an unknown PC in. */
  async matchRules(mac: string, ip: string | null): Promise<string | null> {
    return groupByRules(await this.repo.all(), mac, ip)?.id ?? null;
  }

  private async check(
    bootImageId: string | null | undefined,
    extra: string[] | null | undefined,
    ranges?: IpRange[],
  ) {
    const ids = [...(bootImageId ? [bootImageId] : []), ...(extra ?? [])];
    if (ids.length) {
      const found = new Set(await this.images.existingIds(ids));
      const missing = ids.filter((i) => !found.has(i));
      if (missing.length)
        throw badRequest(
          'image_not_found',
          `image ${missing.map((m) => JSON.stringify(m)).join(', ')} does not exist`,
          'pick an image from GET /api/v1/images',
          [
            {
              path: bootImageId && missing.includes(bootImageId) ? 'body.bootImageId' : 'body.extraImageIds',
              message: 'unknown image',
            },
          ],
        );
    }
    if (bootImageId && extra?.includes(bootImageId))
      throw badRequest('validation_failed', 'the boot image cannot also be an extra disk', undefined, [
        { path: 'body.extraImageIds', message: 'contains the boot image' },
      ]);
    for (const [i, r] of (ranges ?? []).entries()) {
      if (ipv4ToInt(r.start) > ipv4ToInt(r.end))
        throw badRequest(
          'validation_failed',
          `address range ${r.start}-${r.end} ends before it starts`,
          'give the lower address as start',
          [{ path: `body.ipRanges.${i}`, message: 'start is after end' }],
        );
    }
  }

  async create(input: GroupCreate): Promise<Group> {
    const d = GroupCreateSchema.parse(input);
    await this.check(d.bootImageId, d.extraImageIds, d.ipRanges);
    const now = nowIso();
    const row: GroupRow = {
      id: newId(),
      name: d.name,
      description: d.description ?? '',
      boot_image_id: d.bootImageId ?? null,
      extra_image_ids: d.extraImageIds ? JSON.stringify([...new Set(d.extraImageIds)]) : null,
      boot_mode: d.bootMode ?? null,
      boot_menu: boolCol(d.bootMenu ?? null),
      keep_writeback: boolCol(d.keepWriteback ?? null),
      mac_prefixes: JSON.stringify([...new Set(d.macPrefixes ?? [])]),
      ip_ranges: JSON.stringify(d.ipRanges ?? []),
      created_at: now,
      updated_at: now,
    };
    try {
      await this.repo.insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(d.name);
      throw err;
    }
    const g = await this.get(row.id);
    this.bus.publish('group.created', g.id, g);
    return g;
  }

  async update(id: string, p: GroupUpdate): Promise<Group> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('group', id);
    const boot = p.bootImageId === undefined ? row.boot_image_id : p.bootImageId;
    const extra =
      p.extraImageIds === undefined
        ? row.extra_image_ids === null
          ? null
          : (JSON.parse(row.extra_image_ids) as string[])
        : p.extraImageIds;
    await this.check(boot, extra, p.ipRanges);
    const changes: Partial<GroupRow> = { updated_at: nowIso() };
    if (p.name !== undefined) changes.name = p.name;
    if (p.description !== undefined) changes.description = p.description;
    if (p.bootImageId !== undefined) changes.boot_image_id = p.bootImageId;
    if (p.extraImageIds !== undefined)
      changes.extra_image_ids =
        p.extraImageIds === null ? null : JSON.stringify([...new Set(p.extraImageIds)]);
    if (p.bootMode !== undefined) changes.boot_mode = p.bootMode;
    if (p.bootMenu !== undefined) changes.boot_menu = boolCol(p.bootMenu);
    if (p.keepWriteback !== undefined) changes.keep_writeback = boolCol(p.keepWriteback);
    if (p.macPrefixes !== undefined) changes.mac_prefixes = JSON.stringify([...new Set(p.macPrefixes)]);
    if (p.ipRanges !== undefined) changes.ip_ranges = JSON.stringify(p.ipRanges);
    try {
      await this.repo.update(id, changes);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(p.name ?? row.name);
      throw err;
    }
    const g = await this.get(id);
    // the console refreshes the machines too: the group's machines boot with other settings now
    this.bus.publish('group.updated', id, g);
    return g;
  }

  /** The group's machines stay, in no group (their own settings and the defaults apply). */
  async delete(id: string): Promise<void> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('group', id);
    await this.repo.delete(id);
    this.bus.publish('group.deleted', id, null);
  }
}
