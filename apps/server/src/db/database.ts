import { chmodSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  sql,
  type DatabaseConnection,
  type Driver,
  type Expression,
  type SqlBool,
} from 'kysely';
import pg from 'pg';
import type { DB } from './schema.js';
import { StaticMigrationProvider, type Dialect } from './migrations/index.js';

// int8 (counts, sizes, bigserial ids) as JS numbers: every value we store is far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  /** Human-readable location (file path or host/db, no password). */
  location: string;
  /**
   * SQLite only: a consistent copy of the open database into `file` (SQLite's online backup API,
   * page by page while the server keeps writing). PostgreSQL is dumped with pg_dump instead.
   */
  snapshot?: (file: string) => Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
}

export function createDatabase(opts: DatabaseOptions): Database {
  const url = opts.databaseUrl;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // an idle client losing its connection must not crash the process
    pool.on('error', () => undefined);
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    const u = new URL(url);
    return {
      db,
      dialect: 'postgres',
      location: `${u.hostname}:${u.port || 5432}${u.pathname}`,
      close: () => db.destroy(),
    };
  }
  const file = url?.startsWith('sqlite:') ? url.slice('sqlite:'.length) : join(opts.dataDir, 'ggnet.db');
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(file);
  // password hashes and CHAP secrets: the owner only (SQLite gives -wal and -shm the same mode)
  if (file !== ':memory:') {
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      try {
        chmodSync(f, 0o600);
      } catch {
        /* -wal/-shm do not exist yet */
      }
    }
  }
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<DB>({ dialect: new FifoSqliteDialect({ database: withStatementCache(sqlite) }) });
  return {
    db,
    dialect: 'sqlite',
    location: file,
    snapshot: async (dest: string) => {
      await sqlite.backup(dest);
    },
    close: () => db.destroy(),
  };
}

/**
 * SQLite has one connection; Kysely's driver guards it with a mutex whose waiters all wake at every
 * release and all but one wait again (`while (promise) await promise`): with N requests queued that
 * is N wake-ups per query, O(N^2) per storm (a boot storm of 200 at once spent a sixth of its CPU
 * there: bench:boot-storm, profile in bench/README.md). This queue hands the connection to the next
 * waiter only, first come first served; Kysely's own mutex then never has more than one waiter.
 */
class FifoQueue {
  private busy = false;
  private readonly waiters: Array<() => void> = [];
  async lock(): Promise<void> {
    if (!this.busy) {
      this.busy = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  unlock(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.busy = false;
  }
}

class FifoSqliteDriver implements Driver {
  private readonly queue = new FifoQueue();
  constructor(private readonly inner: Driver) {}
  init = () => this.inner.init();
  destroy = () => this.inner.destroy();
  beginTransaction: Driver['beginTransaction'] = (c, s) => this.inner.beginTransaction(c, s);
  commitTransaction: Driver['commitTransaction'] = (c) => this.inner.commitTransaction(c);
  rollbackTransaction: Driver['rollbackTransaction'] = (c) => this.inner.rollbackTransaction(c);
  savepoint: Driver['savepoint'] = (c, n, q) => this.inner.savepoint!(c, n, q);
  rollbackToSavepoint: Driver['rollbackToSavepoint'] = (c, n, q) => this.inner.rollbackToSavepoint!(c, n, q);
  releaseSavepoint: Driver['releaseSavepoint'] = (c, n, q) => this.inner.releaseSavepoint!(c, n, q);

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.queue.lock();
    try {
      return await this.inner.acquireConnection();
    } catch (err) {
      this.queue.unlock();
      throw err;
    }
  }

  async releaseConnection(c: DatabaseConnection): Promise<void> {
    try {
      await this.inner.releaseConnection(c);
    } finally {
      this.queue.unlock();
    }
  }
}

class FifoSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    return new FifoSqliteDriver(super.createDriver());
  }
}

/**
 * better-sqlite3 compiles a statement on every prepare(); Kysely prepares each query anew. Queries
 * repeat (same SQL, other parameters), so compiled statements are kept per SQL text (bounded LRU).
 * Safe because better-sqlite3 runs a statement to completion synchronously (all/run/get).
 */
function withStatementCache(sqlite: SQLite.Database, max = 500): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  return new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop === 'prepare') {
        return (source: string) => {
          let stmt = cache.get(source);
          if (stmt) {
            cache.delete(source);
          } else {
            stmt = target.prepare(source);
            if (cache.size >= max) cache.delete(cache.keys().next().value!);
          }
          cache.set(source, stmt);
          return stmt;
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export interface MigrationReport {
  applied: string[];
  current: string | null;
}

export async function migrateToLatest(database: Database): Promise<MigrationReport> {
  const migrator = new Migrator({
    db: database.db,
    provider: new StaticMigrationProvider({ dialect: database.dialect }),
    migrationTableName: 'ggnet_migrations',
    migrationLockTableName: 'ggnet_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(`migration failed: ${JSON.stringify(error)}`);
  const all = await migrator.getMigrations();
  const done = all.filter((m) => m.executedAt);
  return {
    applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName),
    current: done.at(-1)?.name ?? null,
  };
}

/** True when every known migration has run (readiness). */
export async function migrationsPending(database: Database): Promise<number> {
  const migrator = new Migrator({
    db: database.db,
    provider: new StaticMigrationProvider({ dialect: database.dialect }),
    migrationTableName: 'ggnet_migrations',
    migrationLockTableName: 'ggnet_migrations_lock',
  });
  const all = await migrator.getMigrations();
  return all.filter((m) => !m.executedAt).length;
}

/** Unique-constraint violation on either dialect (SQLite SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY, PostgreSQL 23505). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/** Which column a unique violation was about, when the driver says so. */
export function uniqueViolationColumn(err: unknown): string | undefined {
  const e = err as { message?: string; detail?: string; constraint?: string };
  const m = /UNIQUE constraint failed: \w+\.(\w+)/.exec(e.message ?? '');
  if (m) return m[1];
  const d = /Key \((\w+)\)=/.exec(e.detail ?? '');
  return d?.[1];
}

/** A user's text as a literal inside a LIKE pattern (`%`, `_` and `\` match only themselves). */
export const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Case-insensitive substring match with LIKE wildcards in the user's text escaped. */
export function containsInsensitive(column: Expression<unknown> | string, text: string): Expression<SqlBool> {
  const escaped = escapeLike(text.toLowerCase());
  const col = typeof column === 'string' ? sql.ref(column) : column;
  return sql<SqlBool>`lower(${col}) like ${`%${escaped}%`} escape '\\'`;
}

/**
 * `column LIKE pattern ESCAPE '\'`, the same on SQLite and PostgreSQL: SQLite has no escape character
 * unless one is named, so without it a user's escaped `\_` would match a backslash and any character
 * instead of `_`. `column` is a column name of the query, never user input.
 */
export function likeEscaped(column: string, pattern: string): Expression<SqlBool> {
  return sql<SqlBool>`${sql.ref(column)} like ${pattern} escape '\\'`;
}

export const nowIso = (): string => new Date().toISOString();
export const bool = (v: boolean): number => (v ? 1 : 0);
