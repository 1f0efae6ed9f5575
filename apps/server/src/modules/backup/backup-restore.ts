import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { BackupManifest } from '@ggnet/contracts';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { PgDump } from '../../adapters/pg-dump/pg-dump.adapter.js';
import { ImageFiles } from '../../adapters/storage/image-files.js';
import { createDatabase, migrateToLatest, nowIso } from '../../db/database.js';
import { MIGRATION_NAMES } from '../../db/migrations/index.js';
import { badRequest, conflict, unprocessable } from '../../errors/app-error.js';
import { newId } from '../../lib/ids.js';
import { ArchiveError, extractArchive } from './archive.js';
import { RestoredDatabase } from './backups.repository.js';

export interface RestoreOptions {
  dataDir: string;
  databaseUrl: string | undefined;
  pgDump: PgDump;
  log: Logger;
  /** This GGnet's version (for messages). */
  version: string;
  /** Called before anything is replaced: throws when a server still uses this data dir. */
  assertStopped?: () => Promise<void>;
}

export interface RestoreReport {
  from: { ggnetVersion: string; createdAt: string; hostname: string; schema: string | null };
  /** Migrations run on the restored database (a backup of an older GGnet). */
  migrated: string[];
  counts: Record<'users' | 'machines' | 'images' | 'versions', number>;
  /** Ready versions whose raw file is not in <data dir>/images (copy the images over to boot them). */
  versionsWithoutFile: Array<{ imageId: string; versionId: string; number: number }>;
  /** Live sessions of the backup whose disks are not here: ended. */
  sessionsEnded: number;
  /** Where the configuration files of the backup were put (never over the ones in use). */
  configFiles: string[];
  /** What the restore replaced, kept beside it. */
  previous: string[];
}

const SQLITE_FILE = (dataDir: string, url: string | undefined) =>
  url?.startsWith('sqlite:') ? url.slice('sqlite:'.length) : join(dataDir, 'ggnet.db');

/**
 * Restores a backup made by BackupService into this install (`ggnet restore FILE`, with the
 * server stopped): the database (SQLite file replaced, or PostgreSQL tables dropped and the dump
 * loaded), migrated to this GGnet's schema; the JWT key; the configuration files put aside in
 * <data dir>/restored-config/. A backup from a newer GGnet (a migration this one does not know)
 * is refused before anything changes, so is a backup of the other database kind.
 */
export async function restoreBackup(input: string | Readable, o: RestoreOptions): Promise<RestoreReport> {
  const dialect = o.databaseUrl && /^postgres(ql)?:\/\//.test(o.databaseUrl) ? 'postgres' : 'sqlite';
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(o.dataDir, `.restore-${newId()}`);
  mkdirSync(tmp, { mode: 0o700 });
  try {
    let files: Map<string, { size: number; sha256: string }>;
    let inputBytes = 0;
    const counted =
      typeof input === 'string'
        ? input
        : input.pipe(
            new Transform({
              transform(chunk: Buffer, _enc, done) {
                inputBytes += chunk.length;
                done(null, chunk);
              },
            }),
          );
    try {
      files = await extractArchive(counted, tmp);
    } catch (err) {
      if (err instanceof ArchiveError)
        throw badRequest(
          'backup_unreadable',
          `not a GGnet backup: ${err.message}`,
          'give a file made by `ggnet backup`',
        );
      throw err;
    }
    if (!files.has('manifest.json'))
      throw badRequest(
        'backup_unreadable',
        'not a GGnet backup: manifest.json is missing',
        'give a file made by `ggnet backup`',
      );
    const parsed = BackupManifest.safeParse(JSON.parse(readFileSync(join(tmp, 'manifest.json'), 'utf8')));
    if (!parsed.success)
      throw badRequest(
        'backup_unreadable',
        'not a GGnet backup: its manifest is not understood',
        'give a file made by `ggnet backup`',
      );
    const m = parsed.data;
    for (const [name, f] of Object.entries(m.files)) {
      const got = files.get(name);
      if (!got || got.sha256 !== f.sha256 || got.size !== f.size)
        throw badRequest(
          'backup_damaged',
          `the backup is damaged: ${name} does not match its checksum`,
          'use another backup file',
        );
    }
    const unknown = m.migrations.filter((n) => !MIGRATION_NAMES.includes(n));
    if (unknown.length)
      throw unprocessable(
        'backup_newer_schema',
        `this backup comes from a newer GGnet (${m.ggnetVersion}): its database has migration ${unknown.join(', ')}, which GGnet ${o.version} does not know`,
        `install GGnet ${m.ggnetVersion} or newer, then restore this backup`,
      );
    if (m.dialect !== dialect)
      throw unprocessable(
        'backup_other_database',
        `this backup is of a ${m.dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'} database; this GGnet uses ${dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`,
        m.dialect === 'sqlite'
          ? 'restore it with GGNET_DATABASE_URL unset (SQLite)'
          : 'set GGNET_DATABASE_URL to an empty PostgreSQL database, then restore',
      );
    await o.assertStopped?.();

    const previous: string[] = [];
    const at = nowIso();
    const aside = (path: string) => {
      if (!existsSync(path)) return;
      const to = `${path}.before-restore-${at.replace(/[:.]/g, '-')}`;
      renameSync(path, to);
      previous.push(to);
    };

    // the database: loaded, migrated and tidied where no server sees it yet (SQLite), or in place (PostgreSQL)
    let target = o.databaseUrl;
    let sqliteFile: string | null = null;
    let staged: string | null = null;
    if (dialect === 'sqlite') {
      sqliteFile = SQLITE_FILE(o.dataDir, o.databaseUrl);
      staged = `${sqliteFile}.restoring`;
      for (const f of [staged, `${staged}-wal`, `${staged}-shm`]) rmSync(f, { force: true });
      mkdirSync(dirname(sqliteFile), { recursive: true });
      copyFileSync(join(tmp, 'database/ggnet.db'), staged);
      target = `sqlite:${staged}`;
    } else {
      const db = createDatabase({ databaseUrl: target, dataDir: o.dataDir });
      try {
        const tables = await db.db.introspection.getTables();
        if (tables.length) {
          await db.db.transaction().execute(async (trx) => {
            for (const t of tables) await sql`drop table if exists ${sql.table(t.name)} cascade`.execute(trx);
          });
          o.log.info({ tables: tables.length }, 'restore: dropped the tables of the database');
        }
      } finally {
        await db.close();
      }
      await o.pgDump.restore(target!, join(tmp, 'database/ggnet.pgdump'));
    }
    const database = createDatabase({ databaseUrl: target, dataDir: o.dataDir });
    let report: Omit<RestoreReport, 'configFiles' | 'previous'>;
    try {
      const migrated = (await migrateToLatest(database)).applied;
      const r = new RestoredDatabase(database.db);
      const files = new ImageFiles(o.dataDir);
      const exists = (rel: string | null) => {
        if (!rel) return false;
        try {
          return existsSync(files.inside(rel));
        } catch {
          return false;
        }
      };
      const versionsWithoutFile = (await r.readyVersions())
        .filter((v) => !exists(v.path))
        .map((v) => ({ imageId: v.imageId, versionId: v.id, number: v.number }));
      let sessionsEnded = 0;
      for (const s of await r.liveSessions()) {
        const lost = s.writebacks.some((w) => w.backend !== 'zfs' && !exists(w.path));
        if (lost || !s.writebacks.length) {
          await r.endSession(s.id, "restored from a backup without this session's disk", at);
          sessionsEnded++;
        }
      }
      await r.requeueRunningJobs(at);
      const size = typeof input === 'string' ? statSync(input).size : inputBytes;
      await r.closeOpenBackups(m.backupId, size, m.createdAt, at);
      report = {
        from: {
          ggnetVersion: m.ggnetVersion,
          createdAt: m.createdAt,
          hostname: m.hostname,
          schema: m.migrations.at(-1) ?? null,
        },
        migrated,
        counts: await r.counts(),
        versionsWithoutFile,
        sessionsEnded,
      };
    } finally {
      await database.close();
    }
    if (sqliteFile && staged) {
      for (const f of [sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`]) aside(f);
      renameSync(staged, sqliteFile);
      for (const f of [`${staged}-wal`, `${staged}-shm`]) rmSync(f, { force: true });
    }

    // secrets (the JWT key: logins made before the backup stay valid)
    for (const name of files.keys()) {
      if (!name.startsWith('secrets/')) continue;
      const dest = join(o.dataDir, name);
      mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
      aside(dest);
      copyFileSync(join(tmp, name), dest);
    }
    // configuration: put aside for the admin to compare; the files in use are never replaced
    const configFiles: string[] = [];
    for (const name of files.keys()) {
      if (!name.startsWith('config/')) continue;
      const dest = join(o.dataDir, 'restored-config', name.slice('config/'.length));
      mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
      copyFileSync(join(tmp, name), dest);
      configFiles.push(dest);
    }
    return { ...report, configFiles, previous };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Refuses while a GGnet answers on this machine's port (the server must be stopped to restore). */
export async function assertNoServer(port: number): Promise<void> {
  const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.ok,
    () => false,
  );
  if (ok)
    throw conflict(
      'server_running',
      `a GGnet server answers on port ${port}: it would keep using the database being replaced`,
      'stop it first (systemctl stop ggnet), or pass --force if that server uses another data dir',
    );
}
