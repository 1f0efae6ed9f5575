import type { ProcessRunner } from '../process/process-runner.adapter.js';

/** pg_dump / pg_restore for backups of a PostgreSQL database (custom format, -Fc). */
export interface PgDump {
  /** A consistent snapshot of the database into `file` (pg_dump runs in one transaction). */
  dump(databaseUrl: string, file: string, signal?: AbortSignal): Promise<void>;
  /** Loads a dump made by `dump` into an empty database. */
  restore(databaseUrl: string, file: string, signal?: AbortSignal): Promise<void>;
}

/**
 * Connection for libpq's tools: the URL without its password (a command line is visible to every
 * user of the machine), the password in PGPASSWORD.
 */
export function pgConnection(databaseUrl: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(databaseUrl);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.PGPASSWORD;
  if (password) env.PGPASSWORD = password;
  // postgres:// is what libpq understands; postgresql:// too
  return { dbname: u.toString(), env };
}

export class RealPgDump implements PgDump {
  constructor(
    private readonly runner: ProcessRunner,
    private readonly bin = { dump: 'pg_dump', restore: 'pg_restore' },
  ) {}

  async dump(databaseUrl: string, file: string, signal?: AbortSignal): Promise<void> {
    const c = pgConnection(databaseUrl);
    await this.runner.run(
      this.bin.dump,
      ['--format=custom', '--no-owner', '--no-privileges', `--file=${file}`, `--dbname=${c.dbname}`],
      { env: c.env, signal, timeoutMs: 6 * 3600_000 },
    );
  }

  async restore(databaseUrl: string, file: string, signal?: AbortSignal): Promise<void> {
    const c = pgConnection(databaseUrl);
    await this.runner.run(
      this.bin.restore,
      [
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        '--single-transaction',
        `--dbname=${c.dbname}`,
        file,
      ],
      { env: c.env, signal, timeoutMs: 6 * 3600_000 },
    );
  }
}
