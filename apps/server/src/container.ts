import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config/config.schema.js';
import { createDatabase, type Database } from './db/database.js';
import { EventBus } from './events/event-bus.js';
import { Metrics } from './http/metrics.js';
import { randomSecret } from './lib/ids.js';
import { ImageFiles } from './adapters/storage/image-files.js';
import { SpawnProcessRunner, type ProcessRunner } from './adapters/process/process-runner.adapter.js';
import { DnsmasqDaemon, type Dnsmasq } from './adapters/dnsmasq/dnsmasq.adapter.js';
import { BootEventsRepository } from './modules/boot/boot-events.repository.js';
import { BootHttpListener } from './modules/boot/boot-http.js';
import { BootService } from './modules/boot/boot.service.js';
import { UnwiredSessionStarter } from './modules/boot/unwired-session-starter.js';
import { DhcpRepository } from './modules/dhcp/dhcp.repository.js';
import { DhcpService } from './modules/dhcp/dhcp.service.js';
import type { BootSessionStarter } from './modules/sessions/boot-session.js';
import { AuditRepository } from './modules/audit/audit.repository.js';
import { AuthService } from './modules/auth/auth.service.js';
import { RefreshTokensRepository } from './modules/auth/refresh-tokens.repository.js';
import { ImagesRepository } from './modules/images/images.repository.js';
import { ImagesService } from './modules/images/images.service.js';
import { JobsRepository } from './modules/jobs/jobs.repository.js';
import { JobsService } from './modules/jobs/jobs.service.js';
import { MachinesRepository } from './modules/machines/machines.repository.js';
import { MachinesService } from './modules/machines/machines.service.js';
import { SessionsRepository } from './modules/sessions/sessions.repository.js';
import { SessionsService } from './modules/sessions/sessions.service.js';
import { SettingsRepository } from './modules/settings/settings.repository.js';
import { SettingsService } from './modules/settings/settings.service.js';
import { TargetsRepository } from './modules/targets/targets.repository.js';
import { TargetsService } from './modules/targets/targets.service.js';
import { UsersRepository } from './modules/users/users.repository.js';
import { UsersService } from './modules/users/users.service.js';

/** Reads GGNET_JWT_SECRET, or the one generated on first start and kept in the data dir (0600). */
function jwtSecret(config: Config): string {
  if (config.jwtSecret) return config.jwtSecret;
  const dir = join(config.dataDir, 'secrets');
  const file = join(dir, 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secret = randomSecret(48);
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return secret;
}

export interface ContainerOptions {
  log: Logger;
  runner?: ProcessRunner;
  version?: string;
  /** dnsmasq (DHCP/TFTP); tests pass a fake. */
  dnsmasq?: Dnsmasq;
  /** What the boot endpoint asks for an iSCSI disk; tests pass a fake. */
  bootSessions?: BootSessionStarter;
}

/**
 * The composition root: every object of the server is made here, by hand, in dependency order.
 * Tests build the same graph (with fakes where a system tool would run).
 */
export function createContainer(config: Config, opts: ContainerOptions) {
  mkdirSync(config.dataDir, { recursive: true });
  const log = opts.log;
  const database: Database = createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const db = database.db;
  const bus = new EventBus();
  const metrics = new Metrics();
  const runner = opts.runner ?? new SpawnProcessRunner();
  const imageFiles = new ImageFiles(config.dataDir);

  const repos = {
    users: new UsersRepository(db),
    refreshTokens: new RefreshTokensRepository(db),
    machines: new MachinesRepository(db),
    images: new ImagesRepository(db),
    targets: new TargetsRepository(db),
    sessions: new SessionsRepository(db),
    jobs: new JobsRepository(db),
    settings: new SettingsRepository(db),
    audit: new AuditRepository(db),
    bootEvents: new BootEventsRepository(db),
    dhcp: new DhcpRepository(db),
  };

  const auth = new AuthService(repos.users, repos.refreshTokens, {
    jwtSecret: jwtSecret(config),
    accessTokenTtlSec: config.accessTokenTtlSec,
    refreshTokenTtlSec: config.refreshTokenTtlSec,
    loginLimit: config.loginLimit,
  });
  const settings = new SettingsService(repos.settings, config.settings, bus);
  const users = new UsersService(repos.users, repos.refreshTokens, bus, (id) => auth.forgetUser(id));
  const images = new ImagesService(repos.images, imageFiles, bus);
  const machines = new MachinesService(repos.machines, repos.images, settings, bus);
  const targets = new TargetsService(repos.targets);
  const sessions = new SessionsService(repos.sessions, bus);
  const jobs = new JobsService(repos.jobs, bus);

  /** Facts known only once the server runs (the HTTP port when config.port is 0). */
  const runtime = { httpPort: config.port };
  const dnsmasq = opts.dnsmasq ?? new DnsmasqDaemon({ dir: join(config.dataDir, 'dnsmasq'), log });
  const dhcp = new DhcpService(dnsmasq, settings, repos.dhcp, repos.bootEvents, bus, log, {
    dataDir: config.dataDir,
    ipxeDir: config.ipxeDir,
    httpPort: () => runtime.httpPort,
    files: dnsmasq.files,
    reconcileIntervalSec: config.reconcileIntervalSec,
  });
  const bootSessions = opts.bootSessions ?? new UnwiredSessionStarter();
  const boot = new BootService({
    machines,
    machinesRepo: repos.machines,
    images: repos.images,
    settings,
    sessions: bootSessions,
    events: repos.bootEvents,
    drainDhcpLog: () => dhcp.drain(),
    bus,
    log,
    httpPort: () => runtime.httpPort,
  });
  const bootHttp = new BootHttpListener({
    boot,
    settings,
    bus,
    log,
    host: config.host,
    mainPort: () => runtime.httpPort,
    trustProxy: config.trustProxy,
  });

  settings.addValidator(async (s) => {
    const id = s.machines.defaultImageId;
    if (id && !(await repos.images.existingIds([id])).length) {
      return [{ path: 'machines.defaultImageId', message: 'unknown image' }];
    }
    return [];
  });

  const closers: Array<() => Promise<void>> = [];
  return {
    config,
    log,
    version: opts.version ?? '0.0.0',
    database,
    bus,
    metrics,
    runner,
    imageFiles,
    repos,
    auth,
    settings,
    users,
    images,
    machines,
    targets,
    sessions,
    jobs,
    runtime,
    dnsmasq,
    dhcp,
    bootSessions,
    boot,
    bootHttp,
    /** Registers something to close on shutdown (daemons, loops), in reverse order. */
    onClose(fn: () => Promise<void>) {
      closers.push(fn);
    },
    async close() {
      for (const fn of closers.reverse()) {
        try {
          await fn();
        } catch (err) {
          log.error({ err }, 'error during shutdown');
        }
      }
      await database.close();
    },
  };
}

export type Container = ReturnType<typeof createContainer>;
