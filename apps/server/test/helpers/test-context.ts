import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createPgDatabase as createPgDatabaseOn } from '@ggnet/testkit';
import pino from 'pino';
import { describe } from 'vitest';
import type { Role } from '@ggnet/contracts';
import { buildApp, type AppExtensions } from '../../src/app.js';
import { ConfigSchema, type Config } from '../../src/config/config.schema.js';
import { createContainer, type Container, type ContainerOptions } from '../../src/container.js';
import { migrateToLatest } from '../../src/db/database.js';
import type { App } from '../../src/http/types.js';

export type Dialect = 'sqlite' | 'postgres';
export const ADMIN_PASSWORD = 'admin-password-1';

const PG_URL = process.env.GGNET_TEST_PG_URL;
if (process.env.GGNET_REQUIRE_PG === '1' && !PG_URL) {
  throw new Error('GGNET_REQUIRE_PG=1 but GGNET_TEST_PG_URL is not set: PostgreSQL tests would be skipped');
}

/**
 * Runs a suite on SQLite and on PostgreSQL. Without GGNET_TEST_PG_URL the PostgreSQL half is
 * reported as skipped (scripts/test.sh always sets it, and GGNET_REQUIRE_PG=1 makes its absence fatal).
 */
export function describeEachDialect(name: string, fn: (dialect: Dialect) => void): void {
  describe(`${name} [sqlite]`, () => fn('sqlite'));
  (PG_URL ? describe : describe.skip)(`${name} [postgres]`, () => fn('postgres'));
}

/** A fresh PostgreSQL database for one test context; dropped by the returned function. */
export const createPgDatabase = () => createPgDatabaseOn(PG_URL!);

export interface TestContext {
  dialect: Dialect;
  config: Config;
  container: Container;
  app: App;
  dataDir: string;
  /** Access token of a user with that role (created on first use). */
  token(role?: Role): Promise<string>;
  /** Headers with the token of that role. */
  auth(role?: Role): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export interface TestContextOptions {
  config?: Partial<Record<keyof Config, unknown>>;
  container?: Partial<ContainerOptions>;
  extensions?: (c: Container) => AppExtensions;
  /** Build the app (default true); false for service-level tests. */
  app?: boolean;
}

export async function createTestContext(
  dialect: Dialect,
  opts: TestContextOptions = {},
): Promise<TestContext> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ggnet-test-'));
  const pgdb = dialect === 'postgres' ? await createPgDatabase() : null;
  const config = ConfigSchema.parse({
    dataDir,
    databaseUrl: pgdb?.url,
    adminPassword: ADMIN_PASSWORD,
    jwtSecret: randomBytes(32).toString('hex'),
    logLevel: 'silent',
    host: '127.0.0.1',
    port: 0,
    ...opts.config,
  });
  const container = createContainer(config, {
    log: pino({ level: process.env.GGNET_TEST_LOG ?? 'silent' }),
    ...opts.container,
  });
  await migrateToLatest(container.database);
  await container.users.bootstrapAdmin(ADMIN_PASSWORD);
  const app =
    opts.app === false ? (null as unknown as App) : await buildApp(container, opts.extensions?.(container));
  const tokens = new Map<Role, string>();
  const token = async (role: Role = 'admin'): Promise<string> => {
    const cached = tokens.get(role);
    if (cached) return cached;
    const username = role === 'admin' ? 'admin' : `test-${role}`;
    const password = role === 'admin' ? ADMIN_PASSWORD : `${role}-password-1`;
    if (role !== 'admin') await container.users.create({ username, password, role });
    const pair = await container.auth.login(username, password, { ip: '127.0.0.1', userAgent: 'vitest' });
    tokens.set(role, pair.accessToken);
    return pair.accessToken;
  };
  return {
    dialect,
    config,
    container,
    app,
    dataDir,
    token,
    auth: async (role: Role = 'admin') => ({ authorization: `Bearer ${await token(role)}` }),
    close: async () => {
      if (app) await app.close();
      await container.close();
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
