import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import type { Writable } from 'node:stream';
import type {
  Backup,
  BackupListQuery,
  BackupManifest,
  BackupStatus,
  BackupTrigger,
  Page,
} from '@ggnet/contracts';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { PgDump } from '../../adapters/pg-dump/pg-dump.adapter.js';
import { nowIso, type Database } from '../../db/database.js';
import { notFound, unavailable } from '../../errors/app-error.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import type { SettingsService } from '../settings/settings.service.js';
import { writeArchive, type ArchiveEntry } from './archive.js';
import { toBackup, type BackupsRepository } from './backups.repository.js';

export const BACKUP_FILE_RE = /^ggnet-backup-[0-9TZ-]+-(scheduled|manual)-[a-f0-9]{6}\.tar\.gz$/;

export interface BackupDeps {
  repo: BackupsRepository;
  database: Database;
  databaseUrl: string | undefined;
  dataDir: string;
  /** The configuration files in use (GGNET_CONFIG or /etc/ggnet/ggnet.toml, ggnet.env), when readable. */
  configFiles: string[];
  settings: SettingsService;
  pgDump: PgDump;
  bus: EventBus;
  log: Logger;
  version: string;
}

const sha256File = (file: string) =>
  new Promise<string>((ok, fail) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => ok(h.digest('hex')))
      .on('error', fail);
  });

const stamp = (iso: string) => iso.replace(/[:.]/g, '-');

/**
 * Backups: a consistent snapshot of the database (SQLite's online backup API, or pg_dump for
 * PostgreSQL) with the secrets (JWT key), the configuration files and the settings, in one .tar.gz
 * (archive.ts). Image files are not included (they are large and live in <data dir>/images).
 * Scheduled daily with retention (settings backup.*), from the API, or `ggnet backup FILE`.
 */
export class BackupService {
  readonly dir: string;

  constructor(private readonly d: BackupDeps) {
    this.dir = join(d.dataDir, 'backups');
  }

  private present(file: string): boolean {
    const path = BACKUP_FILE_RE.test(file) ? join(this.dir, file) : file;
    try {
      return statSync(path).isFile();
    } catch {
      return false;
    }
  }

  async list(q: BackupListQuery): Promise<Page<Backup>> {
    const { rows, total } = await this.d.repo.list(q);
    return { items: rows.map((r) => toBackup(r, this.present(r.file))), total };
  }

  async get(id: string): Promise<Backup> {
    const r = await this.d.repo.get(id);
    if (!r) throw notFound('backup', id);
    return toBackup(r, this.present(r.file));
  }

  /** Absolute path of a finished backup in the backup directory (for downloads). */
  async fileOf(id: string): Promise<{ path: string; name: string; size: number }> {
    const b = await this.get(id);
    if (b.state !== 'done' || !BACKUP_FILE_RE.test(b.file) || !b.present) throw notFound('backup file', id);
    const path = join(this.dir, b.file);
    return { path, name: b.file, size: statSync(path).size };
  }

  async status(): Promise<BackupStatus> {
    const s = (await this.d.settings.get()).backup;
    const ok = await this.d.repo.lastWith('done');
    const bad = await this.d.repo.lastWith('failed');
    let totalBytes = 0;
    for (const f of await this.d.repo.sizes()) if (f.size && this.present(f.file)) totalBytes += f.size;
    return {
      dir: this.dir,
      daily: s.daily,
      hour: s.hour,
      keep: s.keep,
      lastSuccessAt: ok?.finished_at ?? null,
      lastFailure:
        bad && (!ok || bad.created_at > ok.created_at)
          ? { at: bad.finished_at ?? bad.created_at, error: bad.error ?? 'failed' }
          : null,
      totalBytes,
    };
  }

  /** A new backup row, queued (the job or the caller makes the file). */
  async queue(
    trigger: BackupTrigger,
    createdBy: string | null,
    file?: string,
    now = new Date(),
  ): Promise<Backup> {
    const id = newId();
    const at = now.toISOString();
    const name = file ?? `ggnet-backup-${stamp(at)}-${trigger}-${id.replace(/-/g, '').slice(0, 6)}.tar.gz`;
    await this.d.repo.insert({
      id,
      file: name,
      trigger,
      state: 'queued',
      size_bytes: null,
      schema: null,
      dialect: this.d.database.dialect,
      error: null,
      created_by: createdBy,
      created_at: at,
      finished_at: null,
    });
    const b = await this.get(id);
    this.d.bus.publish('backup.created', id, b);
    return b;
  }

  /**
   * Makes the backup file of a queued row: into the backup directory, or to `out` (a path or a
   * stream, `ggnet backup FILE|-`). The row ends `done` with its size, or `failed` with the reason.
   */
  async run(id: string, out?: string | Writable, signal?: AbortSignal): Promise<Backup> {
    const row = await this.d.repo.get(id);
    if (!row) throw notFound('backup', id);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const target = out ?? join(this.dir, row.file);
    const tmp = join(this.dir, `.tmp-${id}`);
    await this.d.repo.update(id, { state: 'running' });
    this.d.bus.publish('backup.updated', id, await this.get(id));
    try {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true, mode: 0o700 });
      const entries: ArchiveEntry[] = [];
      const files: BackupManifest['files'] = {};
      const add = async (name: string, path: string) => {
        entries.push({ name, path });
        files[name] = { size: statSync(path).size, sha256: await sha256File(path) };
      };
      // 1. the database, consistent (the snapshot holds this very row, still running)
      let migrations: string[];
      if (this.d.database.dialect === 'sqlite') {
        const snap = join(tmp, 'ggnet.db');
        await this.d.database.snapshot!(snap);
        const copy = new SQLite(snap, { readonly: true });
        try {
          migrations = (
            copy.prepare('select name from ggnet_migrations order by name').all() as Array<{ name: string }>
          ).map((r) => r.name);
        } finally {
          copy.close();
        }
        await add('database/ggnet.db', snap);
      } else {
        const dump = join(tmp, 'ggnet.pgdump');
        await this.d.pgDump.dump(this.d.databaseUrl!, dump, signal);
        migrations = (
          await sql<{ name: string }>`select name from ggnet_migrations order by name`.execute(
            this.d.database.db,
          )
        ).rows.map((r) => r.name);
        await add('database/ggnet.pgdump', dump);
      }
      signal?.throwIfAborted();
      // 2. secrets that are files in the data dir (the JWT signing key)
      const secrets = join(this.d.dataDir, 'secrets');
      if (existsSync(secrets))
        for (const f of readdirSync(secrets).filter((n) => /^[a-z0-9][a-z0-9_.-]{0,60}$/.test(n)))
          if (statSync(join(secrets, f)).isFile()) await add(`secrets/${f}`, join(secrets, f));
      // 3. configuration files, when this process may read them
      for (const f of this.d.configFiles) {
        try {
          readFileSync(f);
        } catch {
          continue;
        }
        await add(`config/${basename(f).toLowerCase()}`, f);
      }
      // 4. the effective settings, readable without GGnet
      const settings = Buffer.from(`${JSON.stringify(await this.d.settings.get(), null, 2)}\n`);
      entries.push({ name: 'settings.json', data: settings });
      files['settings.json'] = {
        size: settings.length,
        sha256: createHash('sha256').update(settings).digest('hex'),
      };
      const manifest: BackupManifest = {
        format: 'ggnet-backup',
        formatVersion: 1,
        backupId: id,
        ggnetVersion: this.d.version,
        createdAt: row.created_at,
        hostname: hostname(),
        dialect: this.d.database.dialect,
        migrations,
        files,
      };
      entries.unshift({ name: 'manifest.json', data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) });
      const partial = typeof target === 'string' ? `${target}.partial` : null;
      await writeArchive(entries, partial ?? target);
      let size: number | null = null;
      if (partial && typeof target === 'string') {
        renameSync(partial, target);
        size = statSync(target).size;
      }
      await this.d.repo.update(id, {
        state: 'done',
        size_bytes: size,
        schema: migrations.at(-1) ?? null,
        finished_at: nowIso(),
      });
      this.d.log.info({ backup: id, file: typeof target === 'string' ? target : '-', size }, 'backup done');
    } catch (err) {
      if (typeof target === 'string') rmSync(`${target}.partial`, { force: true });
      const msg = (err as Error).message;
      await this.d.repo.update(id, { state: 'failed', error: msg, finished_at: nowIso() });
      this.d.bus.publish('backup.updated', id, await this.get(id));
      throw unavailable(
        'backup_failed',
        `the backup failed: ${msg}`,
        'see the server log; check free space in the data dir',
      );
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    const done = await this.get(id);
    this.d.bus.publish('backup.updated', id, done);
    return done;
  }

  /** Deletes a backup's file (if in the backup directory) and its row. */
  async remove(id: string): Promise<void> {
    const b = await this.get(id);
    if (b.state === 'running' || b.state === 'queued')
      throw unavailable('backup_running', 'this backup is still being made', 'wait until it is done');
    if (BACKUP_FILE_RE.test(b.file)) rmSync(join(this.dir, b.file), { force: true });
    await this.d.repo.delete(id);
    this.d.bus.publish('backup.deleted', id, { id });
  }

  /**
   * The daily backup (job `backup.scheduled`, checked every hour): due when backup.daily is on,
   * the hour of the day has come, and the last scheduled backup is older than 23 hours. Then the
   * scheduled backups beyond backup.keep are deleted. Returns the new backup, if one was made.
   */
  async runScheduled(
    now = new Date(),
    signal?: AbortSignal,
  ): Promise<{ backup: Backup | null; deleted: string[] }> {
    const s = (await this.d.settings.get()).backup;
    await this.d.repo.failStale(new Date(now.getTime() - 6 * 3600_000).toISOString(), nowIso());
    if (!s.daily) return { backup: null, deleted: [] };
    const last = await this.d.repo.lastWith('done', 'scheduled');
    const since = last ? now.getTime() - Date.parse(last.created_at) : Infinity;
    if (since < 23 * 3600_000 || now.getHours() < s.hour) return { backup: null, deleted: [] };
    const b = await this.queue('scheduled', null, undefined, now);
    const done = await this.run(b.id, undefined, signal);
    const deleted: string[] = [];
    for (const old of (await this.d.repo.finished('scheduled')).slice(s.keep)) {
      await this.remove(old.id);
      deleted.push(old.file);
    }
    return { backup: done, deleted };
  }
}
