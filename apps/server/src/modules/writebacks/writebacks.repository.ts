import type { Kysely, Selectable } from 'kysely';
import { parseSort, type Page, type Writeback, type WritebackListQuery } from '@ggnet/contracts';
import type { DB, WritebacksTable } from '../../db/schema.js';
import { parseJson } from '../../lib/json.js';

export type WritebackRow = Selectable<WritebacksTable>;
export type WritebackRowWithName = WritebackRow & { machine_name: string | null };

export const toWriteback = (r: WritebackRowWithName, usedBytes: number | null = null): Writeback => ({
  id: r.id,
  machineId: r.machine_id,
  machineName: r.machine_name,
  imageId: r.image_id,
  versionId: r.version_id,
  sessionId: r.session_id,
  targetId: r.target_id,
  lun: r.lun,
  backend: r.backend as Writeback['backend'],
  state: r.state as Writeback['state'],
  kept: r.kept === 1,
  sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
  usedBytes,
  appliedVersionId: r.applied_version_id,
  error: r.error,
  createdAt: r.created_at,
  discardedAt: r.discarded_at,
});

/** States in which a writeback's file (or dataset) exists or may exist. */
export const LIVE_WRITEBACK_STATES = [
  'creating',
  'ready',
  'kept',
  'applying',
  'discarding',
  'error',
] as const;

export class WritebacksRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private base(db: Kysely<DB> = this.db) {
    return db
      .selectFrom('writebacks as w')
      .leftJoin('machines as m', 'm.id', 'w.machine_id')
      .selectAll('w')
      .select('m.name as machine_name');
  }

  findById(id: string, db: Kysely<DB> = this.db): Promise<WritebackRowWithName | undefined> {
    return this.base(db).where('w.id', '=', id).executeTakeFirst();
  }

  async list(q: WritebackListQuery): Promise<Page<WritebackRowWithName>> {
    let query = this.db.selectFrom('writebacks as w').leftJoin('machines as m', 'm.id', 'w.machine_id');
    if (q.machineId) query = query.where('w.machine_id', '=', q.machineId);
    if (q.imageId) query = query.where('w.image_id', '=', q.imageId);
    if (q.state) query = query.where('w.state', '=', q.state);
    if (q.live === 'true') query = query.where('w.state', '<>', 'discarded');
    if (q.live === 'false') query = query.where('w.state', '=', 'discarded');
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const { field, desc } = parseSort(q.sort, '-createdAt');
    const col = field === 'machineName' ? 'm.name' : 'w.created_at';
    const items = await query
      .selectAll('w')
      .select('m.name as machine_name')
      .orderBy(col, desc ? 'desc' : 'asc')
      .orderBy('w.id')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items, total: Number(total.n) };
  }

  /** Every writeback whose data may exist (not discarded). */
  live(): Promise<WritebackRowWithName[]> {
    return this.base().where('w.state', '<>', 'discarded').execute();
  }

  bySession(sessionId: string, db: Kysely<DB> = this.db): Promise<WritebackRow[]> {
    return db.selectFrom('writebacks').selectAll().where('session_id', '=', sessionId).execute();
  }

  byTarget(targetId: string, db: Kysely<DB> = this.db): Promise<WritebackRow[]> {
    return db.selectFrom('writebacks').selectAll().where('target_id', '=', targetId).execute();
  }

  /** The newest kept writeback of a machine for an image, to continue on (keep-writeback, maintenance). */
  findKept(machineId: string, imageId: string, db: Kysely<DB> = this.db): Promise<WritebackRow | undefined> {
    return db
      .selectFrom('writebacks')
      .selectAll()
      .where('machine_id', '=', machineId)
      .where('image_id', '=', imageId)
      .where('state', '=', 'kept')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  findByIds(ids: string[]): Promise<WritebackRow[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.db.selectFrom('writebacks').selectAll().where('id', 'in', ids).execute();
  }

  async insert(row: WritebackRow, db: Kysely<DB> = this.db): Promise<void> {
    await db.insertInto('writebacks').values(row).execute();
  }

  /** Conditional update (`onlyStates`): returns the number of rows changed, so callers detect races. */
  async update(
    id: string,
    patch: Partial<Omit<WritebackRow, 'id'>>,
    opts: { onlyStates?: string[] } = {},
    db: Kysely<DB> = this.db,
  ): Promise<number> {
    let q = db.updateTable('writebacks').set(patch).where('id', '=', id);
    if (opts.onlyStates?.length) q = q.where('state', 'in', opts.onlyStates);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Per-image counts for the storage summary. */
  async versionStats(): Promise<Array<{ image_id: string; name: string; versions: number }>> {
    const rows = await this.db
      .selectFrom('images as i')
      .leftJoin('image_versions as v', 'v.image_id', 'i.id')
      .select(['i.id as image_id', 'i.name as name'])
      .select((eb) => eb.fn.count<number>('v.id').as('versions'))
      .groupBy(['i.id', 'i.name'])
      .execute();
    return rows.map((r) => ({ ...r, versions: Number(r.versions) }));
  }

  /**
   * Published, ready versions of the images that machines or their groups boot (or have as extra
   * disks), plus the default image's: the versions worth keeping spare clones of.
   */
  async publishedVersionsInUse(
    defaultImageId: string | null,
  ): Promise<Array<{ id: string; image_id: string; path: string; size_bytes: number }>> {
    const machines = await this.db
      .selectFrom('machines')
      .select(['boot_image_id', 'extra_image_ids'])
      // what groups give their machines boots too
      .unionAll(this.db.selectFrom('groups').select(['boot_image_id', 'extra_image_ids']))
      .execute();
    const used = new Set<string>(defaultImageId ? [defaultImageId] : []);
    for (const m of machines) {
      if (m.boot_image_id) used.add(m.boot_image_id);
      for (const x of parseJson<string[]>(m.extra_image_ids, [])) used.add(x);
    }
    if (!used.size) return [];
    const rows = await this.db
      .selectFrom('images as i')
      .innerJoin('image_versions as v', 'v.id', 'i.published_version_id')
      .select(['v.id', 'v.image_id', 'v.path', 'v.size_bytes'])
      .where('i.id', 'in', [...used])
      .where('v.state', '=', 'ready')
      .execute();
    return rows
      .filter((r): r is typeof r & { path: string } => !!r.path)
      .map((r) => ({ ...r, size_bytes: Number(r.size_bytes ?? 0) }));
  }

  /** Ready versions that are published or have live disks: the versions whose read cache is shown. */
  async cacheVersions(): Promise<
    Array<{
      id: string;
      image_id: string;
      number: number;
      path: string;
      size_bytes: number;
      image_name: string;
    }>
  > {
    const rows = await this.db
      .selectFrom('image_versions as v')
      .innerJoin('images as i', 'i.id', 'v.image_id')
      .select(['v.id', 'v.image_id', 'v.number', 'v.path', 'v.size_bytes', 'i.name as image_name'])
      .where('v.state', '=', 'ready')
      .where((eb) =>
        eb.or([
          eb('v.id', '=', eb.ref('i.published_version_id')),
          eb(
            'v.id',
            'in',
            eb.selectFrom('writebacks').select('version_id').where('state', '<>', 'discarded'),
          ),
        ]),
      )
      .orderBy('i.name')
      .orderBy('v.number')
      .execute();
    return rows
      .filter((r): r is typeof r & { path: string } => !!r.path)
      .map((r) => ({ ...r, number: Number(r.number), size_bytes: Number(r.size_bytes ?? 0) }));
  }

  versionPaths(): Promise<Array<{ image_id: string; id: string; path: string | null }>> {
    return this.db.selectFrom('image_versions').select(['image_id', 'id', 'path']).execute();
  }
}
