import type { MediaService } from '../media/media.service.js';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { registerErrorHandling } from '../../errors/problem.js';
import type { EventBus } from '../../events/event-bus.js';
import { applyServerLimits } from '../../http/server-limits.js';
import type { App } from '../../http/types.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { BootRateLimits } from './boot-limits.js';
import { registerBootEndpoints } from './boot.routes.js';
import type { BootService } from './boot.service.js';

export interface BootHttpOptions {
  boot: BootService;
  limits?: BootRateLimits;
  /** Install media served to machines in install mode. */
  media?: MediaService;
  settings: SettingsService;
  bus: EventBus;
  log: Logger;
  host: string;
  /** Port of the main server (which serves /boot/* already). */
  mainPort: () => number;
  /** Reverse proxies whose X-Forwarded-For is believed (config trustProxy; empty = none). */
  trustProxy: string[];
  /** Open connections at most (config bootMaxConnections). */
  maxConnections: number;
  /** ... from one client address (config bootMaxConnectionsPerAddress). */
  maxConnectionsPerAddress: number;
  /** Headers and body of a request must arrive within this (config bodyTimeoutSec). */
  bodyTimeoutMs: number;
}

/**
 * The plain-HTTP listener for iPXE on network.bootHttpPort, when it differs from the API's port
 * (e.g. the API behind TLS on 443, iPXE on port 80 of the boot network). Only /boot/* lives here.
 * Follows the setting: opened, moved or closed when it changes.
 */
export class BootHttpListener {
  private app: App | null = null;
  private port: number | null = null;
  private unsubscribe: (() => void) | null = null;
  private syncing: Promise<void> = Promise.resolve();
  /** Last listen error (port taken...), for logs and tests. */
  error: string | null = null;

  constructor(private readonly o: BootHttpOptions) {}

  get listeningPort(): number | null {
    const a = this.app?.server.address();
    return typeof a === 'object' && a ? a.port : null;
  }

  async start(): Promise<void> {
    this.unsubscribe = this.o.bus.subscribe((e) => {
      if (e.type === 'settings.updated') void this.sync();
    });
    await this.sync();
  }

  sync(): Promise<void> {
    this.syncing = this.syncing.then(async () => {
      const want = (await this.o.settings.get()).network.bootHttpPort;
      const port = want && want !== this.o.mainPort() ? want : null;
      if (port === this.port && (port === null || this.app)) return;
      await this.close();
      this.port = port;
      if (port === null) return;
      const logger: FastifyBaseLogger = this.o.log;
      const app = Fastify({
        loggerInstance: logger,
        trustProxy: this.o.trustProxy.length ? this.o.trustProxy : false,
        bodyLimit: 4096,
        // only small requests here: the whole request (headers + body) within the deadline
        requestTimeout: this.o.bodyTimeoutMs,
      }).withTypeProvider<ZodTypeProvider>();
      app.setValidatorCompiler(validatorCompiler);
      app.setSerializerCompiler(serializerCompiler);
      registerErrorHandling(app);
      applyServerLimits(app, {
        maxConnections: this.o.maxConnections,
        maxConnectionsPerAddress: this.o.maxConnectionsPerAddress,
        bodyTimeoutMs: this.o.bodyTimeoutMs,
      });
      await registerBootEndpoints(app, { boot: this.o.boot, limits: this.o.limits, media: this.o.media });
      try {
        await app.listen({ host: this.o.host, port });
        this.app = app;
        this.error = null;
        this.o.log.info({ port }, 'boot endpoint listening on its own HTTP port');
      } catch (err) {
        this.error = (err as Error).message;
        this.o.log.error({ err, port }, 'cannot open the boot HTTP port');
        await app.close().catch(() => undefined);
      }
    });
    return this.syncing;
  }

  private async close(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (app) await app.close();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.syncing.catch(() => undefined);
    await this.close();
  }
}
