import { sql, type ExpressionBuilder, type Kysely, type Selectable } from 'kysely';
import {
  parseSort,
  type BootMode,
  type Group,
  type GroupListQuery,
  type GROUP_SORT_FIELDS,
  type IpRange,
  type Page,
} from '@ggnet/contracts';
import { containsInsensitive } from '../../db/database.js';
import type { DB, GroupReleasesTable, GroupsTable } from '../../db/schema.js';
import { parseJson } from '../../lib/json.js';

export type GroupRow = Selectable<GroupsTable>;
export type GroupReleaseRow = Selectable<GroupReleasesTable>;
export type GroupRowWithCount = GroupRow & { machine_count: number | string };

const flag = (v: number | null): boolean | null => (v === null ? null : v === 1);

export const toGroup = (r: GroupRowWithCount, releases: GroupReleaseRow[]): Group => ({
  id: r.id,
  name: r.name,
  description: r.description,
  bootImageId: r.boot_image_id,
  extraImageIds: r.extra_image_ids === null ? null : parseJson<string[]>(r.extra_image_ids, []),
  bootMode: r.boot_mode as BootMode | null,
  bootMenu: flag(r.boot_menu),
  keepWriteback: flag(r.keep_writeback),
  macPrefixes: parseJson<string[]>(r.mac_prefixes, []),
  ipRanges: parseJson<IpRange[]>(r.ip_ranges, []),
  releases: releases
    .filter((x) => x.group_id === r.id)
    .map((x) => ({
      imageId: x.image_id,
      versionId: x.version_id,
      releasedAt: x.released_at,
      releasedBy: x.released_by,
    })),
  machineCount: Number(r.machine_count),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const SORT: Record<(typeof GROUP_SORT_FIELDS)[number], string> = {
  name: 'g.name',
  createdAt: 'g.created_at',
  updatedAt: 'g.updated_at',
  machineCount: 'machine_count',
};

/** The one writer of `groups` and `group_releases`. */
export class GroupsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private withCount() {
    return this.db
      .selectFrom('groups as g')
      .selectAll('g')
      .select((eb) =>
        eb
          .selectFrom('machines')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('machines.group_id', '=', 'g.id')
          .as('machine_count'),
      );
  }

  async list(q: GroupListQuery): Promise<Page<GroupRowWithCount>> {
    let base = this.db.selectFrom('groups as g');
    let query = this.withCount();
    if (q.q) {
      base = base.where(containsInsensitive('g.name', q.q));
      query = query.where(containsInsensitive('g.name', q.q));
    }
    if (q.imageId) {
      const imageId = q.imageId;
      const ring = (eb: ExpressionBuilder<DB & { g: GroupsTable }, 'g'>) =>
        eb.exists(
          eb
            .selectFrom('group_releases as r')
            .select('r.group_id')
            .whereRef('r.group_id', '=', 'g.id')
            .where('r.image_id', '=', imageId),
        );
      base = base.where(ring);
      query = query.where(ring);
    }
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const { field, desc } = parseSort(q.sort, 'name');
    const items = (await query
      .orderBy(sql.ref(SORT[field]), desc ? 'desc' : 'asc')
      .orderBy('g.id')
      .limit(q.limit)
      .offset(q.offset)
      .execute()) as GroupRowWithCount[];
    return { items, total: Number(total.n) };
  }

  async findById(id: string): Promise<GroupRowWithCount | undefined> {
    return (await this.withCount().where('g.id', '=', id).executeTakeFirst()) as
      GroupRowWithCount | undefined;
  }

  /** Every group (a site has tens, not thousands): rule matching and inheritance of a page of machines. */
  all(): Promise<GroupRow[]> {
    return this.db.selectFrom('groups').selectAll().orderBy('name').execute();
  }

  findByIds(ids: string[]): Promise<GroupRow[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.db.selectFrom('groups').selectAll().where('id', 'in', ids).execute();
  }

  async existingIds(ids: string[]): Promise<string[]> {
    return (await this.findByIds(ids)).map((g) => g.id);
  }

  async insert(row: GroupRow): Promise<void> {
    await this.db.insertInto('groups').values(row).execute();
  }

  async update(id: string, patch: Partial<Omit<GroupRow, 'id'>>): Promise<void> {
    await this.db.updateTable('groups').set(patch).where('id', '=', id).execute();
  }

  /** Its machines leave the group (foreign key: set null), its ring releases go with it. */
  async delete(id: string): Promise<number> {
    const r = await this.db.deleteFrom('groups').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  // ---- ring releases ----

  releases(groupIds?: string[]): Promise<GroupReleaseRow[]> {
    let q = this.db.selectFrom('group_releases').selectAll();
    if (groupIds) {
      if (!groupIds.length) return Promise.resolve([]);
      q = q.where('group_id', 'in', groupIds);
    }
    return q.execute();
  }

  releasesOfImage(imageId: string): Promise<GroupReleaseRow[]> {
    return this.db.selectFrom('group_releases').selectAll().where('image_id', '=', imageId).execute();
  }

  /** Pins `groupIds` to `versionId` of `imageId` (replacing any earlier ring release of that image). */
  async release(
    groupIds: string[],
    imageId: string,
    versionId: string,
    at: string,
    by: string | null,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('group_releases')
        .where('image_id', '=', imageId)
        .where('group_id', 'in', groupIds)
        .execute();
      await trx
        .insertInto('group_releases')
        .values(
          groupIds.map((g) => ({
            group_id: g,
            image_id: imageId,
            version_id: versionId,
            released_at: at,
            released_by: by,
          })),
        )
        .execute();
    });
  }

  /** Ends the ring of `versionId` (promoted or rolled back); returns the groups that were in it. */
  async endRing(imageId: string, versionId: string): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('group_releases')
        .select('group_id')
        .where('image_id', '=', imageId)
        .where('version_id', '=', versionId)
        .execute();
      await trx
        .deleteFrom('group_releases')
        .where('image_id', '=', imageId)
        .where('version_id', '=', versionId)
        .execute();
      return rows.map((r) => r.group_id);
    });
  }

  /** Live sessions of machines on `imageId`, per group (null: no group) and version they run. */
  async runningVersions(
    imageId: string,
  ): Promise<Array<{ group_id: string | null; version_id: string; n: number }>> {
    const rows = await this.db
      .selectFrom('sessions as s')
      .innerJoin('machines as m', 'm.id', 's.machine_id')
      .select(['m.group_id', 's.version_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('s.image_id', '=', imageId)
      .where('s.state', '<>', 'ended')
      .groupBy(['m.group_id', 's.version_id'])
      .execute();
    return rows
      .filter((r): r is typeof r & { version_id: string } => !!r.version_id)
      .map((r) => ({ group_id: r.group_id, version_id: r.version_id, n: Number(r.n) }));
  }
}
