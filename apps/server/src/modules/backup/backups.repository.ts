import {
  parseSort,
  type Backup,
  type BACKUP_SORT_FIELDS,
  type BackupListQuery,
  type BackupState,
  type BackupTrigger,
} from '@ggnet/contracts';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { BackupsTable, DB } from '../../db/schema.js';

export type BackupRow = Selectable<BackupsTable>;

export const toBackup = (r: BackupRow, present: boolean): Backup => ({
  id: r.id,
  file: r.file,
  trigger: r.trigger as BackupTrigger,
  state: r.state as BackupState,
  sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
  schema: r.schema,
  dialect: r.dialect as Backup['dialect'],
  error: r.error,
  createdBy: r.created_by,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
  present,
});

const SORTS: Record<(typeof BACKUP_SORT_FIELDS)[number], keyof BackupsTable> = {
  createdAt: 'created_at',
  sizeBytes: 'size_bytes',
  state: 'state',
};

/** All SQL of backups: the list of backups, and what a restore changes in the restored database. */
export class BackupsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async insert(row: BackupRow): Promise<void> {
    await this.db.insertInto('backups').values(row).execute();
  }

  async update(id: string, patch: Partial<Omit<BackupRow, 'id'>>): Promise<void> {
    await this.db.updateTable('backups').set(patch).where('id', '=', id).execute();
  }

  async get(id: string): Promise<BackupRow | undefined> {
    return this.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(q: BackupListQuery): Promise<{ rows: BackupRow[]; total: number }> {
    let base = this.db.selectFrom('backups');
    if (q.trigger) base = base.where('trigger', '=', q.trigger);
    const total = Number(
      (await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n,
    );
    const { field, desc } = parseSort(q.sort, '-createdAt');
    const col = SORTS[field];
    const rows = await base
      .selectAll()
      .orderBy(col, desc ? 'desc' : 'asc')
      .orderBy('id')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { rows, total };
  }

  /** Every finished backup of a trigger, newest first (retention). */
  async finished(trigger: BackupTrigger): Promise<BackupRow[]> {
    return this.db
      .selectFrom('backups')
      .selectAll()
      .where('trigger', '=', trigger)
      .where('state', '=', 'done')
      .orderBy('created_at', 'desc')
      .execute();
  }

  async lastWith(state: BackupState, trigger?: BackupTrigger): Promise<BackupRow | undefined> {
    let q = this.db.selectFrom('backups').selectAll().where('state', '=', state);
    if (trigger) q = q.where('trigger', '=', trigger);
    return q.orderBy('created_at', 'desc').limit(1).executeTakeFirst();
  }

  /** Backups left queued or running by a process that died: they will never finish. */
  async failStale(olderThan: string, at: string): Promise<number> {
    const r = await this.db
      .updateTable('backups')
      .set({ state: 'failed', error: 'interrupted (GGnet stopped while it ran)', finished_at: at })
      .where('state', 'in', ['queued', 'running'])
      .where('created_at', '<', olderThan)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('backups').where('id', '=', id).execute();
  }

  async sizes(): Promise<Array<{ file: string; size: number | null }>> {
    const rows = await this.db
      .selectFrom('backups')
      .select(['file', 'size_bytes'])
      .where('state', '=', 'done')
      .execute();
    return rows.map((r) => ({ file: r.file, size: r.size_bytes === null ? null : Number(r.size_bytes) }));
  }
}

/** Queries a restore runs on the database it just restored (before any server uses it). */
export class RestoredDatabase {
  constructor(private readonly db: Kysely<DB>) {}

  async migrations(): Promise<string[]> {
    const rows = await sql<{ name: string }>`select name from ggnet_migrations order by name`.execute(
      this.db,
    );
    return rows.rows.map((r) => r.name);
  }

  async counts(): Promise<Record<'users' | 'machines' | 'images' | 'versions', number>> {
    const n = async (t: 'users' | 'machines' | 'images' | 'image_versions') =>
      Number(
        (
          await this.db
            .selectFrom(t)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    return {
      users: await n('users'),
      machines: await n('machines'),
      images: await n('images'),
      versions: await n('image_versions'),
    };
  }

  async readyVersions(): Promise<
    Array<{ id: string; imageId: string; number: number; path: string | null }>
  > {
    const rows = await this.db
      .selectFrom('image_versions')
      .select(['id', 'image_id', 'number', 'path'])
      .where('state', '=', 'ready')
      .execute();
    return rows.map((r) => ({ id: r.id, imageId: r.image_id, number: r.number, path: r.path }));
  }

  /** Live sessions with their writebacks (a restore ends those whose disks did not come along). */
  async liveSessions(): Promise<
    Array<{ id: string; writebacks: Array<{ id: string; path: string; backend: string }> }>
  > {
    const sessions = await this.db
      .selectFrom('sessions')
      .select(['id'])
      .where('state', '!=', 'ended')
      .execute();
    const out = [];
    for (const s of sessions) {
      const wbs = await this.db
        .selectFrom('writebacks')
        .select(['id', 'path', 'backend'])
        .where('session_id', '=', s.id)
        .where('state', '!=', 'discarded')
        .execute();
      out.push({ id: s.id, writebacks: wbs });
    }
    return out;
  }

  async endSession(id: string, error: string, at: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('sessions')
        .set({ state: 'ended', end_reason: 'error', error, ended_at: at })
        .where('id', '=', id)
        .execute();
      await trx
        .updateTable('writebacks')
        .set({ state: 'discarded', discarded_at: at, error })
        .where('session_id', '=', id)
        .where('state', '!=', 'discarded')
        .execute();
      await trx.deleteFrom('targets').where('session_id', '=', id).execute();
    });
  }

  /** Jobs that were running in the old server can never report back: queue them again. */
  async requeueRunningJobs(at: string): Promise<number> {
    const r = await this.db
      .updateTable('jobs')
      .set({ state: 'queued', lease_owner: null, lease_expires_at: null, run_at: at, updated_at: at })
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * Backups still running in the snapshot: the one being restored (it finished: it is here) is
   * done; any other never finished.
   */
  async closeOpenBackups(restoredId: string, size: number, finishedAt: string, at: string): Promise<void> {
    await this.db
      .updateTable('backups')
      .set({ state: 'done', size_bytes: size, finished_at: finishedAt })
      .where('id', '=', restoredId)
      .execute();
    await this.db
      .updateTable('backups')
      .set({ state: 'failed', error: 'in progress when the restored backup was taken', finished_at: at })
      .where('state', 'in', ['queued', 'running'])
      .execute();
  }
}
