/**
 * Requests/s of GET /api/v1/machines with 1,000 machines, on SQLite and on PostgreSQL, against a
 * real listening GGnet server, measured with autocannon. Baseline in the same run: GET /healthz on
 * the same server (the framework's floor: no auth, no database).
 *
 *   npm run bench:api                  (PostgreSQL via GGNET_TEST_PG_URL or scripts/start-postgres.sh)
 *   BENCH_SECONDS=10 BENCH_CONNECTIONS=32 npm run bench:api
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pino from 'pino';
import { ConfigSchema, startServer } from '@ggnet/server';
import { createPgDatabase, seedMachines } from '@ggnet/testkit';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const MACHINES = 1000;

async function measure(url: string, headers: Record<string, string> = {}) {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
  if (r.non2xx) throw new Error(`${url}: ${r.non2xx} non-2xx answers`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

async function run(dialect: 'sqlite' | 'postgres', pgUrl?: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'ggnet-bench-'));
  let databaseUrl: string | undefined;
  let drop = async () => {};
  if (dialect === 'postgres') {
    const db = await createPgDatabase(pgUrl!, 'ggnet_bench');
    databaseUrl = db.url;
    drop = db.drop;
  }
  const config = ConfigSchema.parse({
    dataDir,
    databaseUrl,
    host: '127.0.0.1',
    port: 0,
    adminPassword: 'bench-password',
    logLevel: 'silent',
  });
  const server = await startServer(config, {
    log: pino({ level: 'silent' }),
    version: 'bench',
    announce: () => {},
  });
  try {
    await seedMachines(server.container, MACHINES, { tags: (i) => [i % 2 ? 'odd' : 'even'] });
    const login = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'bench-password' }),
    });
    const { accessToken } = (await login.json()) as { accessToken: string };
    const auth = { authorization: `Bearer ${accessToken}` };
    const base = await measure(`${server.url}/healthz`);
    const page50 = await measure(`${server.url}/api/v1/machines?limit=50`, auth);
    const page500 = await measure(`${server.url}/api/v1/machines?limit=500`, auth);
    const search = await measure(`${server.url}/api/v1/machines?q=pc-09&tag=odd&sort=-name`, auth);
    return { dialect, base, page50, page500, search };
  } finally {
    await server.stop();
    await drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const pgUrl =
  process.env.GGNET_TEST_PG_URL ??
  execFileSync('bash', ['scripts/start-postgres.sh'], { encoding: 'utf8' }).trim();
console.log(
  `GET /api/v1/machines, ${MACHINES} machines, ${CONNECTIONS} connections, ${SECONDS} s per run, node ${process.version}`,
);
const rows = [await run('sqlite'), await run('postgres', pgUrl)];
const fmt = (x: { rps: number; p50: number; p99: number }) =>
  `${x.rps.toFixed(0).padStart(7)} req/s  p50 ${String(x.p50).padStart(3)} ms  p99 ${String(x.p99).padStart(3)} ms`;
for (const r of rows) {
  console.log(`\n[${r.dialect}]`);
  console.log(`  baseline GET /healthz           ${fmt(r.base)}`);
  console.log(
    `  GET /machines?limit=50          ${fmt(r.page50)}  = ${(r.page50.rps / r.base.rps).toFixed(2)}x baseline`,
  );
  console.log(
    `  GET /machines?limit=500         ${fmt(r.page500)}  = ${(r.page500.rps / r.base.rps).toFixed(2)}x baseline`,
  );
  console.log(
    `  GET /machines?q=&tag=&sort=     ${fmt(r.search)}  = ${(r.search.rps / r.base.rps).toFixed(2)}x baseline`,
  );
}
