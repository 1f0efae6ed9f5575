import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A fresh PostgreSQL database on the server of `adminUrl` (e.g. GGNET_TEST_PG_URL) for one test
 * context or bench run; `drop` removes it (also with connections still open).
 */
export async function createPgDatabase(
  adminUrl: string,
  prefix = 'ggnet_t',
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const drop = async () => {
    // FORCE ends the test's leftover connections; an autovacuum worker busy in the database has no
    // role, so ending it can be refused (42501) without pg_signal_backend: it is done in a moment
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } catch (e) {
        if ((e as { code?: string }).code !== '42501' || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  return { url: url.toString(), drop };
}
