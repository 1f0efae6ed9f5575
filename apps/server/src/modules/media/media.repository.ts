import { sql, type Kysely, type Selectable } from 'kysely';
import {
  parseSort,
  type Media,
  type MediaListQuery,
  type MEDIA_SORT_FIELDS,
  type Page,
} from '@ggnet/contracts';
import { containsInsensitive } from '../../db/database.js';
import type { DB, MediaTable } from '../../db/schema.js';

export type MediaRow = Selectable<MediaTable>;
type MediaRowWithStats = MediaRow & { machine_count: number | string };

export const toMedia = (r: MediaRowWithStats): Media => ({
  id: r.id,
  name: r.name,
  filename: r.filename,
  sizeBytes: Number(r.size_bytes),
  sha256: r.sha256,
  machineCount: Number(r.machine_count ?? 0),
  createdBy: r.created_by,
  createdAt: r.created_at,
});

const SORT: Record<(typeof MEDIA_SORT_FIELDS)[number], string> = {
  name: 'media.name',
  createdAt: 'media.created_at',
  sizeBytes: 'media.size_bytes',
};

/** All SQL of install media, and of the machines that boot one (install mode). */
export class MediaRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private withStats() {
    return this.db
      .selectFrom('media')
      .selectAll('media')
      .select((eb) =>
        eb
          .selectFrom('machines')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('machines.install_media_id', '=', 'media.id')
          .as('machine_count'),
      );
  }

  async list(q: MediaListQuery): Promise<Page<MediaRowWithStats>> {
    let base = this.db.selectFrom('media');
    if (q.q) base = base.where(containsInsensitive('media.name', q.q));
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    let query = this.withStats();
    if (q.q) query = query.where(containsInsensitive('media.name', q.q));
    const { field, desc } = parseSort(q.sort, 'name');
    const items = (await query
      .orderBy(sql.ref(SORT[field]), desc ? 'desc' : 'asc')
      .orderBy('media.id')
      .limit(q.limit)
      .offset(q.offset)
      .execute()) as MediaRowWithStats[];
    return { items, total: Number(total.n) };
  }

  async findById(id: string): Promise<MediaRowWithStats | undefined> {
    return (await this.withStats().where('media.id', '=', id).executeTakeFirst()) as
      MediaRowWithStats | undefined;
  }

  findByName(name: string): Promise<MediaRow | undefined> {
    return this.db.selectFrom('media').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async insert(row: MediaRow): Promise<void> {
    await this.db.insertInto('media').values(row).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('media').where('id', '=', id).execute();
  }

  async machinesUsing(id: string): Promise<{ id: string; name: string }[]> {
    return this.db
      .selectFrom('machines')
      .select(['id', 'name'])
      .where('install_media_id', '=', id)
      .orderBy('name')
      .execute();
  }

  /**
   * The medium that the machine booting from `clientIp` right now may read: its machine is in
   * install mode with this medium and has a live session from that address.
   */
  async servableTo(id: string, clientIp: string): Promise<MediaRow | undefined> {
    return this.db
      .selectFrom('media')
      .selectAll('media')
      .where('media.id', '=', id)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('machines')
            .innerJoin('sessions', 'sessions.machine_id', 'machines.id')
            .select('machines.id')
            .whereRef('machines.install_media_id', '=', 'media.id')
            .where('machines.boot_mode', '=', 'maintenance')
            .where('sessions.client_ip', '=', clientIp)
            .where('sessions.state', '<>', 'ended'),
        ),
      )
      .executeTakeFirst();
  }
}
