import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config/config.schema.js';
import { createDatabase, type Database } from './db/database.js';
import { EventBus } from './events/event-bus.js';
import { Metrics } from './http/metrics.js';
import { randomSecret } from './lib/ids.js';
import { prepareDataDir } from './lib/data-dir.js';
import { ImageFiles } from './adapters/storage/image-files.js';
import { SpawnProcessRunner, type ProcessRunner } from './adapters/process/process-runner.adapter.js';
import { DnsmasqDaemon, type Dnsmasq } from './adapters/dnsmasq/dnsmasq.adapter.js';
import { BootEventsRepository } from './modules/boot/boot-events.repository.js';
import { BootHttpListener } from './modules/boot/boot-http.js';
import { BootService } from './modules/boot/boot.service.js';
import { DhcpRepository } from './modules/dhcp/dhcp.repository.js';
import { DhcpService } from './modules/dhcp/dhcp.service.js';
import type { BootSessionStarter } from './modules/sessions/boot-session.js';
import type { IscsiTargetDriver } from './adapters/iscsi/iscsi-target.adapter.js';
import { IscsiRuntime } from './modules/iscsi/iscsi.runtime.js';
import { Reconciler } from './modules/iscsi/reconciler.js';
import { SessionMonitor } from './modules/iscsi/session-monitor.js';
import { SessionOrchestrator } from './modules/sessions/session-orchestrator.js';
import { StorageService } from './modules/storage/storage.service.js';
import { WritebacksRepository } from './modules/storage/writebacks.repository.js';
import { TargetManager } from './modules/targets/target-manager.js';
import { RealQemuImg, type QemuImg } from './adapters/qemu-img/qemu-img.adapter.js';
import { HashingTusStore, toTusError } from './adapters/storage/tus-store.js';
import { ImageConvertJob, type ConvertTuning } from './modules/images/image-convert.job.js';
import { ImageRetentionJob, RETENTION_JOB } from './modules/images/image-retention.job.js';
import { CHECKSUM_JOB, checksumKey, ImageChecksumJob } from './modules/images/image-checksum.job.js';
import type { JobHandler } from './modules/jobs/job-types.js';
import { ImageImportJob } from './modules/uploads/image-import.job.js';
import { UploadExpiryJob } from './modules/uploads/upload-expiry.job.js';
import { UploadsService } from './modules/uploads/uploads.service.js';
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
  /** iSCSI driver to use instead of the one settings iscsi.backend selects (unit tests: a fake). */
  iscsiDriver?: IscsiTargetDriver;
  qemuImg?: QemuImg;
  convertTuning?: ConvertTuning;
}

/**
 * The composition root: every object of the server is made here, by hand, in dependency order.
 * Tests build the same graph (with fakes where a system tool would run).
 */
export function createContainer(config: Config, opts: ContainerOptions) {
  // owner only (others may pass through to the TFTP root; see lib/data-dir.ts)
  prepareDataDir(config.dataDir);
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
    writebacks: new WritebacksRepository(db),
    jobs: new JobsRepository(db, database.dialect),
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
  // storage + iSCSI (issue 4): writebacks, targets, sessions, reconciler
  const storage = new StorageService(
    repos.writebacks,
    repos.images,
    images,
    imageFiles,
    settings,
    runner,
    bus,
    log,
  );
  const iscsi = new IscsiRuntime(config, settings, runner, bus, log, opts.iscsiDriver);
  const targetManager = new TargetManager(repos.targets, repos.writebacks, storage, iscsi, log);
  const orchestrator = new SessionOrchestrator({
    sessions: repos.sessions,
    targets: repos.targets,
    writebacks: repos.writebacks,
    machines: repos.machines,
    images: repos.images,
    storage,
    targetManager,
    iscsi,
    settings,
    bus,
    log,
  });
  const targets = new TargetsService({
    repo: repos.targets,
    machines: repos.machines,
    images: repos.images,
    writebacks: repos.writebacks,
    storage,
    manager: targetManager,
    iscsi,
    orchestrator,
    settings,
    bus,
    log,
  });
  const sessions = new SessionsService(repos.sessions, orchestrator);
  const sessionMonitor = new SessionMonitor(
    repos.sessions,
    repos.targets,
    orchestrator,
    iscsi,
    settings,
    bus,
    log,
  );
  const reconciler = new Reconciler({
    targets: repos.targets,
    sessions: repos.sessions,
    writebacks: repos.writebacks,
    machines: repos.machines,
    manager: targetManager,
    storage,
    orchestrator,
    iscsi,
    settings,
    bus,
    log,
  });
  const jobs = new JobsService(repos.jobs, bus);
  images.onVersionFile(async (imageId, versionId) => {
    await jobs.enqueue(
      CHECKSUM_JOB,
      { imageId, versionId },
      { dedupeKey: checksumKey(versionId), createdBy: null, maxAttempts: 3 },
    );
  });

  // images in: uploads (tus, PUT, import) -> conversion jobs (qemu-img) -> versions
  const qemuImg = opts.qemuImg ?? new RealQemuImg(runner, { dieWithParent: true });
  const uploads = new UploadsService({
    images,
    repo: repos.images,
    files: imageFiles,
    jobs,
    settings,
    importDir: config.importDir ?? join(config.dataDir, 'import'),
  });
  const tusStore = new HashingTusStore(join(imageFiles.uploadsDir, 'tus'), {
    onDiskFull: async (id, err) => toTusError(await uploads.diskFull(id, err)),
  });
  uploads.attachTusStore(tusStore);
  const jobHandlers: JobHandler[] = [
    new ImageConvertJob(
      {
        repo: repos.images,
        images,
        files: imageFiles,
        qemu: qemuImg,
        settings,
        bus,
        afterReady: async () => {
          await jobs.enqueue(RETENTION_JOB, {}, { dedupeKey: `schedule:${RETENTION_JOB}`, maxAttempts: 1 });
        },
      },
      opts.convertTuning,
    ),
    new ImageImportJob({ uploads, repo: repos.images, images, files: imageFiles }),
    new ImageRetentionJob({ repo: repos.images, images, settings }),
    new ImageChecksumJob({ repo: repos.images, images, files: imageFiles, bus }),
    new UploadExpiryJob({ repo: repos.images, images, files: imageFiles, jobs, tus: tusStore }),
  ];
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
  // the boot endpoint starts sessions through the iSCSI side's orchestrator
  const bootSessions = opts.bootSessions ?? orchestrator;
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

  settings.addValidator(async (s) => StorageService.validateSettings(s));

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
    storage,
    iscsi,
    targetManager,
    /** The BootSessionStarter the boot endpoint (GET /boot/ipxe) calls. */
    orchestrator,
    sessionMonitor,
    reconciler,
    jobs,
    qemuImg,
    uploads,
    tusStore,
    /** What the job worker can run (`ggnet serve` with GGNET_WORKER, or `ggnet worker`). */
    jobHandlers,
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
