import { sql, type Kysely, type Selectable } from 'kysely';
import {
  parseSort,
  type IMAGE_SORT_FIELDS,
  type Image,
  type ImageListQuery,
  type ImageState,
  type ImageVersion,
  type Page,
} from '@ggnet/contracts';
import { containsInsensitive, escapeLike, likeEscaped } from '../../db/database.js';
import type { DB, ImagesTable, ImageVersionsTable } from '../../db/schema.js';

export type ImageRow = Selectable<ImagesTable>;
export type VersionRow = Selectable<ImageVersionsTable>;
type ImageRowWithStats = ImageRow & {
  version_count: number;
  size_bytes: number | null;
  machine_count: number;
};

export const toImage = (r: ImageRowWithStats): Image => ({
  id: r.id,
  name: r.name,
  description: r.description,
  osType: r.os_type as Image['osType'],
  state: r.state as ImageState,
  error: r.error,
  sourceFormat: r.source_format,
  sourceFilename: r.source_filename,
  sourceSize: r.source_size === null ? null : Number(r.source_size),
  sourceSha256: r.source_sha256,
  publishedVersionId: r.published_version_id,
  uefiBootFile: r.uefi_boot_file ?? null,
  versionCount: Number(r.version_count),
  sizeBytes: Number(r.size_bytes ?? 0),
  machineCount: Number(r.machine_count),
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export const toVersion = (
  r: VersionRow,
  publishedId: string | null,
  inUse: boolean,
  allocatedBytes: number | null = null,
): ImageVersion => ({
  id: r.id,
  imageId: r.image_id,
  number: r.number,
  state: r.state as ImageVersion['state'],
  comment: r.comment,
  author: r.author,
  sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
  allocatedBytes,
  sha256: r.sha256,
  protected: r.protected === 1,
  published: r.id === publishedId,
  inUse,
  parentVersionId: r.parent_version_id,
  createdAt: r.created_at,
  readyAt: r.ready_at,
});

const SORT: Record<(typeof IMAGE_SORT_FIELDS)[number], string> = {
  name: 'images.name',
  state: 'images.state',
  createdAt: 'images.created_at',
  updatedAt: 'images.updated_at',
};

export class ImagesRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private withStats() {
    return this.db
      .selectFrom('images')
      .selectAll('images')
      .select((eb) => [
        eb
          .selectFrom('image_versions')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('image_versions.image_id', '=', 'images.id')
          .as('version_count'),
        eb
          .selectFrom('image_versions')
          .select((v) => v.fn.sum<number>('image_versions.size_bytes').as('s'))
          .whereRef('image_versions.image_id', '=', 'images.id')
          .as('size_bytes'),
        eb
          .selectFrom('machines')
          .select(eb.fn.countAll<number>().as('n'))
          .where((w) =>
            w.or([
              w('machines.boot_image_id', '=', w.ref('images.id')),
              w('machines.extra_image_ids', 'like', sql<string>`'%"' || images.id || '"%'`),
              // machines that inherit it from their group
              w.and([
                w('machines.boot_image_id', 'is', null),
                w(
                  sql`(select g.boot_image_id from groups g where g.id = machines.group_id)`,
                  '=',
                  w.ref('images.id'),
                ),
              ]),
            ]),
          )
          .as('machine_count'),
      ]);
  }

  async findById(id: string): Promise<ImageRowWithStats | undefined> {
    return (await this.withStats().where('images.id', '=', id).executeTakeFirst()) as
      ImageRowWithStats | undefined;
  }

  findRow(id: string): Promise<ImageRow | undefined> {
    return this.db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(q: ImageListQuery): Promise<Page<ImageRowWithStats>> {
    let base = this.db.selectFrom('images');
    if (q.q) base = base.where(containsInsensitive('images.name', q.q));
    if (q.state) base = base.where('images.state', '=', q.state);
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    let query = this.withStats();
    if (q.q) query = query.where(containsInsensitive('images.name', q.q));
    if (q.state) query = query.where('images.state', '=', q.state);
    const { field, desc } = parseSort(q.sort, 'name');
    const items = (await query
      .orderBy(sql.ref(SORT[field]), desc ? 'desc' : 'asc')
      .orderBy('images.id')
      .limit(q.limit)
      .offset(q.offset)
      .execute()) as ImageRowWithStats[];
    return { items, total: Number(total.n) };
  }

  async existingIds(ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    const rows = await this.db.selectFrom('images').select('id').where('id', 'in', ids).execute();
    return rows.map((r) => r.id);
  }

  /** The published version of each of `ids` (null: none published; images that do not exist are absent). */
  async publishedVersions(ids: string[]): Promise<Map<string, string | null>> {
    if (!ids.length) return new Map();
    const rows = await this.db
      .selectFrom('images')
      .select(['id', 'published_version_id'])
      .where('id', 'in', ids)
      .execute();
    return new Map(rows.map((r) => [r.id, r.published_version_id]));
  }

  /** Versions of the image that a group boots ahead of everyone (ring releases): retention keeps them. */
  async versionsPinned(imageId: string): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('group_releases')
      .select('version_id')
      .where('image_id', '=', imageId)
      .execute();
    return new Set(rows.map((r) => r.version_id));
  }

  findByName(name: string): Promise<ImageRow | undefined> {
    return this.db.selectFrom('images').selectAll().where('name', '=', name).executeTakeFirst();
  }

  listByState(state: string): Promise<ImageRow[]> {
    return this.db.selectFrom('images').selectAll().where('state', '=', state).execute();
  }

  allIds(): Promise<string[]> {
    return this.db
      .selectFrom('images')
      .select('id')
      .execute()
      .then((r) => r.map((x) => x.id));
  }

  allNames(): Promise<{ id: string; name: string }[]> {
    return this.db.selectFrom('images').select(['id', 'name']).execute();
  }

  async insert(row: ImageRow, db: Kysely<DB> = this.db): Promise<void> {
    await db.insertInto('images').values(row).execute();
  }

  async update(id: string, patch: Partial<Omit<ImageRow, 'id'>>, db: Kysely<DB> = this.db): Promise<void> {
    await db.updateTable('images').set(patch).where('id', '=', id).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('images').where('id', '=', id).execute();
  }

  /** Groups that give their machines the image as boot or extra disk. */
  async groupsUsing(id: string): Promise<{ id: string; name: string }[]> {
    return this.db
      .selectFrom('groups')
      .select(['id', 'name'])
      .where((eb) =>
        eb.or([
          eb('boot_image_id', '=', id),
          likeEscaped('extra_image_ids', `%${escapeLike(JSON.stringify(id))}%`),
        ]),
      )
      .execute();
  }

  /** Machines that boot the image or have it as an extra disk (of their own). */
  async machinesUsing(id: string): Promise<{ id: string; name: string }[]> {
    return this.db
      .selectFrom('machines')
      .select(['id', 'name'])
      .where((eb) =>
        eb.or([eb('boot_image_id', '=', id), eb('extra_image_ids', 'like', `%${JSON.stringify(id)}%`)]),
      )
      .execute();
  }

  // ---- versions ----------------------------------------------------------------

  listVersions(imageId: string): Promise<VersionRow[]> {
    return this.db
      .selectFrom('image_versions')
      .selectAll()
      .where('image_id', '=', imageId)
      .orderBy('number', 'desc')
      .execute();
  }

  findVersion(imageId: string, versionId: string): Promise<VersionRow | undefined> {
    return this.db
      .selectFrom('image_versions')
      .selectAll()
      .where('image_id', '=', imageId)
      .where('id', '=', versionId)
      .executeTakeFirst();
  }

  findVersionById(versionId: string): Promise<VersionRow | undefined> {
    return this.db.selectFrom('image_versions').selectAll().where('id', '=', versionId).executeTakeFirst();
  }

  async nextVersionNumber(imageId: string, db: Kysely<DB> = this.db): Promise<number> {
    const r = await db
      .selectFrom('image_versions')
      .select((eb) => eb.fn.max<number>('number').as('n'))
      .where('image_id', '=', imageId)
      .executeTakeFirst();
    return Number(r?.n ?? 0) + 1;
  }

  async insertVersion(row: VersionRow, db: Kysely<DB> = this.db): Promise<void> {
    await db.insertInto('image_versions').values(row).execute();
  }

  async updateVersion(
    id: string,
    patch: Partial<Omit<VersionRow, 'id'>>,
    db: Kysely<DB> = this.db,
  ): Promise<void> {
    await db.updateTable('image_versions').set(patch).where('id', '=', id).execute();
  }

  async deleteVersion(id: string): Promise<void> {
    await this.db.deleteFrom('image_versions').where('id', '=', id).execute();
  }

  /** Version ids that a live session (or a kept writeback) still reads from. */
  async versionsInUse(imageId: string): Promise<Set<string>> {
    const live = await this.db
      .selectFrom('sessions')
      .select('version_id')
      .where('image_id', '=', imageId)
      .where('state', '<>', 'ended')
      .execute();
    const kept = await this.db
      .selectFrom('writebacks')
      .select('version_id')
      .where('image_id', '=', imageId)
      .where('state', '<>', 'discarded')
      .execute();
    return new Set([...live, ...kept].map((r) => r.version_id).filter((v): v is string => !!v));
  }

  async transaction<T>(fn: (db: Kysely<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }
}
