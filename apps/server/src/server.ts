import type { Logger } from 'pino';
import { buildApp, type AppExtensions } from './app.js';
import type { Config } from './config/config.schema.js';
import { createContainer, type Container } from './container.js';
import { migrateToLatest } from './db/database.js';
import { secureDataDir } from './lib/data-dir.js';
import type { App } from './http/types.js';

export interface RunningServer {
  app: App;
  container: Container;
  url: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  version: string;
  /** Print the generated admin password (first start). */
  announce?: (line: string) => void;
  extensions?: (c: Container) => AppExtensions;
  /** Background services (worker, reconciler, daemons) started after listen; each returns its stop. */
  services?: Array<(c: Container) => Promise<() => Promise<void>>>;
}

/** `ggnet serve`: migrate, make the first admin, listen, start background services. */
export async function startServer(config: Config, opts: StartOptions): Promise<RunningServer> {
  // files an older GGnet left readable to everyone (database, secrets, writebacks): owner only
  secureDataDir(config.dataDir, opts.log);
  const container = createContainer(config, { log: opts.log, version: opts.version });
  try {
    const m = await migrateToLatest(container.database);
    if (m.applied.length) opts.log.info({ applied: m.applied }, 'database migrated');
    const admin = await container.users.bootstrapAdmin(config.adminPassword);
    if (admin.created) {
      const line = admin.generatedPassword
        ? `created user "admin" with the generated password: ${admin.generatedPassword}  (shown once; change it with \`ggnet user passwd admin\`)`
        : 'created user "admin" with the password from GGNET_ADMIN_PASSWORD';
      (opts.announce ?? ((l) => opts.log.warn(l)))(line);
    }
    const app = await buildApp(container, opts.extensions?.(container));
    await app.listen({ host: config.host, port: config.port });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    container.runtime.httpPort = port;
    const stops: Array<() => Promise<void>> = [];
    for (const s of opts.services ?? []) stops.push(await s(container));
    let stopping: Promise<void> | null = null;
    return {
      app,
      container,
      url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
      stop: () =>
        (stopping ??= (async () => {
          for (const s of stops.reverse()) await s().catch((err) => opts.log.error({ err }, 'stop failed'));
          await app.close();
          await container.close();
        })()),
    };
  } catch (err) {
    await container.close().catch(() => undefined);
    throw err;
  }
}
