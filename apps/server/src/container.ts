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
import { RealQemuStorageDaemon, type QemuStorageDaemon } from './adapters/qsd/qsd.adapter.js';
import { SpawnProcessRunner, type ProcessRunner } from './adapters/process/process-runner.adapter.js';
import { DnsmasqDaemon, type Dnsmasq } from './adapters/dnsmasq/dnsmasq.adapter.js';
import { BootEventRecorder } from './modules/boot-events/boot-event-recorder.js';
import { BootEventsRepository } from './modules/boot-events/boot-events.repository.js';
import { BootHttpListener } from './modules/boot/boot-http.js';
import { MediaRepository } from './modules/media/media.repository.js';
import { MediaService } from './modules/media/media.service.js';
import { BootRateLimits } from './modules/boot/boot-limits.js';
import { BootReports } from './modules/boot/boot-reports.js';
import { BootSecretsRepository } from './modules/boot/boot-secrets.repository.js';
import { BootService } from './modules/boot/boot.service.js';
import { BootGuard } from './modules/boot/boot-guard.js';
import { DnsmasqLeases } from './adapters/dnsmasq/dnsmasq-leases.js';
import { MaintenanceGate } from './modules/boot/maintenance-gate.js';
import { RegistrationPolicy } from './modules/machines/registration-policy.js';
import { DhcpRepository } from './modules/dhcp/dhcp.repository.js';
import { DhcpService } from './modules/dhcp/dhcp.service.js';
import type { BootSessionStarter } from './modules/sessions/boot-session.js';
import type { IscsiTargetDriver } from './adapters/iscsi/iscsi-target.adapter.js';
import { IscsiRuntime } from './modules/targets/iscsi.runtime.js';
import { Reconciler } from './modules/reconcile/reconciler.js';
import { SessionMonitor } from './modules/sessions/session-monitor.js';
import { SsTcpStats, type TcpStats } from './adapters/tcp-stats/tcp-stats.adapter.js';
import { LiveTraffic } from './modules/traffic/live-traffic.js';
import { registerTrafficMetrics } from './modules/traffic/traffic.metrics.js';
import { SessionApply } from './modules/sessions/session-apply.js';
import { SessionOrchestrator } from './modules/sessions/session-orchestrator.js';
import { BootPreparer } from './modules/sessions/boot-preparer.js';
import { PreparedBootsRepository } from './modules/sessions/prepared-boots.repository.js';
import { StorageService } from './modules/writebacks/storage.service.js';
import { registerCacheMetrics } from './modules/writebacks/version-cache.js';
import { WritebacksRepository } from './modules/writebacks/writebacks.repository.js';
import { TargetManager } from './modules/targets/target-manager.js';
import { RealQemuImg, type QemuImg } from './adapters/qemu-img/qemu-img.adapter.js';
import { tusError } from './adapters/tus/tus-errors.js';
import { HashingTusStore } from './adapters/tus/tus-store.js';
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
import { EffectiveResolver } from './modules/groups/effective-resolver.js';
import { GroupsRepository } from './modules/groups/groups.repository.js';
import { GroupsService } from './modules/groups/groups.service.js';
import { ReleasesService } from './modules/groups/releases.service.js';
import { SessionsRepository } from './modules/sessions/sessions.repository.js';
import { SessionsService } from './modules/sessions/sessions.service.js';
import { SettingsRepository } from './modules/settings/settings.repository.js';
import { SettingsService } from './modules/settings/settings.service.js';
import { TargetsRepository } from './modules/targets/targets.repository.js';
import { TargetsService } from './modules/targets/targets.service.js';
import { UsersRepository } from './modules/users/users.repository.js';
import { UsersService } from './modules/users/users.service.js';
import { RealPgDump, type PgDump } from './adapters/pg-dump/pg-dump.adapter.js';
import { BackupJob, ScheduledBackupJob } from './modules/backup/backup.job.js';
import { BackupService } from './modules/backup/backup.service.js';
import { BackupsRepository } from './modules/backup/backups.repository.js';
import { AlertsCleanupJob } from './modules/alerts/alerts-cleanup.job.js';
import { AlertsMonitor } from './modules/alerts/alerts.monitor.js';
import { registerAlertsMetrics } from './modules/alerts/alerts.metrics.js';
import { AlertsRepository } from './modules/alerts/alerts.repository.js';
import { AlertsService } from './modules/alerts/alerts.service.js';
import { AlertsWebhookJob } from './modules/alerts/alerts-webhook.job.js';
import { UdpWakeOnLan, type WakeOnLan } from './adapters/wol/wol.adapter.js';
import { PowerRepository } from './modules/power/power.repository.js';
import { PowerSchedules } from './modules/power/schedules.service.js';
import { RealQemuVms, type QemuVms } from './adapters/qemu/qemu-vm.adapter.js';
import { ConsoleRepository } from './modules/console/console.repository.js';
import { ConsoleService } from './modules/console/console.service.js';
import { WakeService } from './modules/power/wake.service.js';
import { AgentRepository } from './modules/agent/agent.repository.js';
import { AgentService } from './modules/agent/agent.service.js';

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
  /** qemu-storage-daemon of the qcow2 session-disk backend; tests pass a fake. */
  qsd?: QemuStorageDaemon;
  /** iSCSI driver to use instead of the one settings iscsi.backend selects (unit tests: a fake). */
  iscsiDriver?: IscsiTargetDriver;
  qemuImg?: QemuImg;
  convertTuning?: ConvertTuning;
  pgDump?: PgDump;
  /** Configuration files a backup includes (default: GGNET_CONFIG or /etc/ggnet/ggnet.{toml,json}, ggnet.env). */
  configFiles?: string[];
  /** TCP counters of the iSCSI connections (live traffic); tests pass a fake. */
  tcpStats?: TcpStats;
  /** Clock of the boot endpoint's limits, registration caps and maintenance grants (tests move it). */
  now?: () => number;
  /** Wake-on-LAN sender (tests: a fake that records the packets). */
  wakeOnLan?: WakeOnLan;
  /** QEMU of the console VMs (issue 15 point 3); tests pass a fake. */
  qemuVms?: QemuVms;
  /** Clock of power schedules (tests move it); default Date.now. */
  powerNow?: () => number;
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
    preparedBoots: new PreparedBootsRepository(db),
    writebacks: new WritebacksRepository(db),
    jobs: new JobsRepository(db, database.dialect),
    settings: new SettingsRepository(db),
    audit: new AuditRepository(db),
    bootEvents: new BootEventsRepository(db),
    bootSecrets: new BootSecretsRepository(db),
    dhcp: new DhcpRepository(db),
    backups: new BackupsRepository(db),
    alerts: new AlertsRepository(db),
    power: new PowerRepository(db),
    groups: new GroupsRepository(db),
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
  const media = new MediaService(new MediaRepository(db), imageFiles, bus);
  // live iSCSI traffic per session: sampled by the session monitor, read by the API and the metrics
  const traffic = new LiveTraffic(config.sessionMonitorIntervalSec);
  registerTrafficMetrics(metrics, traffic);
  // groups (issue 14): inheritance machine -> group -> default, ring releases
  const effective = new EffectiveResolver({ groups: repos.groups, images: repos.images, settings });
  const groups = new GroupsService(repos.groups, repos.images, bus);
  const machines = new MachinesService(
    repos.machines,
    repos.images,
    settings,
    bus,
    repos.groups,
    effective,
    traffic,
    media,
  );
  const releases = new ReleasesService({
    groups: repos.groups,
    images: repos.images,
    imagesService: images,
    machines: repos.machines,
    resolver: effective,
    bus,
  });
  // boot events: one writer (stored and published as `boot.event` together)
  const bootEventRecorder = new BootEventRecorder(repos.bootEvents, bus);
  // storage + iSCSI (issue 4): writebacks, targets, sessions, reconciler
  // qcow2 backend: one qemu-storage-daemon serves every overlay; a restart of it lost every export,
  // which the reconciler puts back (and re-adds the LUNs)
  const qsd =
    opts.qsd ??
    new RealQemuStorageDaemon({ dataDir: config.dataDir, socketPath: config.qsdSocket }, runner, log);
  qsd.onRestart(() => bus.publish('storage.qsd_restarted', 'qemu-storage-daemon', qsd.status()));
  const storage = new StorageService(
    repos.writebacks,
    repos.images,
    images,
    imageFiles,
    settings,
    runner,
    bus,
    log,
    qsd,
  );
  registerCacheMetrics(metrics, storage.cache);
  const iscsi = new IscsiRuntime(config, settings, runner, bus, log, opts.iscsiDriver);
  const targetManager = new TargetManager(repos.targets, repos.writebacks, storage, iscsi, log);
  const orchestrator = new SessionOrchestrator({
    sessions: repos.sessions,
    prepared: repos.preparedBoots,
    targets: repos.targets,
    writebacks: repos.writebacks,
    machines: repos.machines,
    images: repos.images,
    storage,
    targetManager,
    iscsi,
    settings,
    effective,
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
    settings,
    bus,
    log,
    resolver: effective,
  });
  const sessionApply = new SessionApply({
    sessions: repos.sessions,
    writebacks: repos.writebacks,
    targets: repos.targets,
    iscsi,
    storage,
    orchestrator,
  });
  const sessions = new SessionsService(repos.sessions, orchestrator, repos.bootEvents, sessionApply, traffic);
  // console VMs: QEMU on an image's maintenance disk, VNC to the browser (issue 15 point 3)
  const qemuVms = opts.qemuVms ?? new RealQemuVms({ dataDir: config.dataDir }, log);
  const consoleVms = new ConsoleService({
    repo: new ConsoleRepository(db),
    images: repos.images,
    machines,
    machinesRepo: repos.machines,
    media,
    files: imageFiles,
    orchestrator,
    settings,
    vms: qemuVms,
    bus,
    log,
  });
  const sessionMonitor = new SessionMonitor(
    repos.sessions,
    repos.targets,
    repos.machines,
    bootEventRecorder,
    orchestrator,
    iscsi,
    settings,
    bus,
    log,
    { stats: opts.tcpStats ?? new SsTcpStats(runner), live: traffic },
  );
  const reconciler = new Reconciler({
    targets: repos.targets,
    sessions: repos.sessions,
    prepared: repos.preparedBoots,
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
  // boots prepared before the PC asks (issue 12): started with the iSCSI services
  const bootPreparer = new BootPreparer({ orchestrator, machines: repos.machines, settings, bus, log });
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
    media,
    repo: repos.images,
    files: imageFiles,
    jobs,
    settings,
    importDir: config.importDir ?? join(config.dataDir, 'import'),
  });
  const tusStore = new HashingTusStore(join(imageFiles.uploadsDir, 'tus'), {
    onDiskFull: async (id, err) => tusError(await uploads.diskFull(id, err)),
  });
  uploads.attachTusStore(tusStore);
  const pgDump = opts.pgDump ?? new RealPgDump(runner);
  const backups = new BackupService({
    repo: repos.backups,
    database,
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    configFiles: opts.configFiles ?? [
      process.env.GGNET_CONFIG ?? '/etc/ggnet/ggnet.toml',
      '/etc/ggnet/ggnet.json',
      '/etc/ggnet/ggnet.env',
    ],
    settings,
    pgDump,
    bus,
    log,
    version: opts.version ?? '0.0.0',
  });
  // space alerts, writeback limits, webhook, cleanup of old kept writebacks (issue 14 point 5)
  const alerts = new AlertsService({
    repo: repos.alerts,
    storage,
    settings,
    jobs,
    audit: repos.audit,
    bus,
    log,
  });
  const alertsMonitor = new AlertsMonitor(alerts, settings, bus, log);
  registerAlertsMetrics(metrics, alerts, repos.alerts);
  settings.addValidator(async (s) => AlertsService.validateSettings(s));
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
    new BackupJob(backups),
    new ScheduledBackupJob(backups),
    new AlertsWebhookJob({ settings }),
    new AlertsCleanupJob({ alerts, settings }),
  ];
  /** Facts known only once the server runs (the HTTP port when config.port is 0). */
  const runtime = { httpPort: config.port };
  /** Port in the boot URLs handed to PXE clients: a reverse proxy's (bootPublicPort) or ours. */
  const bootUrlPort = () => config.bootPublicPort ?? runtime.httpPort;
  const dnsmasq = opts.dnsmasq ?? new DnsmasqDaemon({ dir: join(config.dataDir, 'dnsmasq'), log });
  const dhcp = new DhcpService(dnsmasq, settings, repos.dhcp, bootEventRecorder, bus, log, {
    dataDir: config.dataDir,
    ipxeDir: config.ipxeDir,
    httpPort: bootUrlPort,
    files: dnsmasq.files,
    reconcileIntervalSec: config.reconcileIntervalSec,
  });
  // the boot endpoint starts sessions through the iSCSI side's orchestrator
  const bootSessions = opts.bootSessions ?? orchestrator;
  // who may get a machine's script: fixed IPs, dhcp leases, no takeover of a running machine
  const leases = new DnsmasqLeases(dnsmasq.files.leases);
  const bootGuard = new BootGuard({
    liveSession: (machineId) => repos.sessions.liveForMachine(machineId),
    targetIqn: async (targetId) => (await repos.targets.findById(targetId))?.iqn ?? null,
    liveConnections: async (iqn) => (await iscsi.live(1000)).find((t) => t.iqn === iqn)?.connections ?? [],
    connectionRx: async (iqn, c) => {
      const driver = await iscsi.driver();
      return driver.connectionRx ? driver.connectionRx(iqn, c) : null;
    },
    leasesOf: async (mac) => {
      const leased = await leases.addressesOf(mac);
      if (leased.length) return leased;
      // dnsmasq logs its DHCPACK as it sends it: an answer not yet in the lease file still counts
      const s = await settings.get();
      const since = new Date(Date.now() - s.dhcp.leaseTimeSec * 1000).toISOString();
      const acked = await repos.bootEvents.lastAckedIp(mac, since);
      return acked ? [acked] : [];
    },
    recordEvent: (e) => bootEventRecorder.record(e),
    audit: (e) =>
      repos.audit.insert({
        at: new Date().toISOString(),
        user_id: null,
        username: null,
        action: 'boot.refused',
        method: 'GET',
        path: '/boot/ipxe',
        target_type: e.machineId ? 'machine' : 'mac',
        target_id: e.machineId ?? e.mac,
        status_code: 403,
        ip: e.ip,
      }),
    bus,
    log,
  });
  // the boot LAN is not trusted (issue 10): rate limits, registration caps, gated maintenance
  const bootReports = new BootReports({ audit: repos.audit, events: bootEventRecorder, bus, log });
  const registration = new RegistrationPolicy({
    repo: repos.machines,
    bus,
    log,
    report: (e) => bootReports.registrationCapped(e),
    now: opts.now,
  });
  const maintenance = new MaintenanceGate({
    settings,
    secrets: repos.bootSecrets,
    reports: bootReports,
    bus,
    log,
    now: opts.now,
  });
  metrics.gauge('ggnet_reconcile_passes', 'Reconcile passes since start', () => reconciler.totals.passes);
  metrics.gauge(
    'ggnet_reconcile_pass_seconds',
    'Time spent in reconcile passes since start',
    () => reconciler.totals.ms / 1000,
  );
  metrics.gauge(
    'ggnet_boot_starts_prepared',
    'Boots that claimed a boot prepared ahead (no target made while the PC waited), since start',
    () => orchestrator.startsByKind.prepared,
  );
  metrics.gauge(
    'ggnet_boot_starts_cold',
    'Boots whose writeback and target were made while the PC waited, since start',
    () => orchestrator.startsByKind.cold,
  );
  const bootLimits = new BootRateLimits({
    settings,
    log,
    counter: metrics.counter('ggnet_boot_rate_limited_total', 'Boot requests refused by a rate limit', [
      'key',
    ]),
    now: opts.now,
  });
  const boot = new BootService({
    machines,
    machinesRepo: repos.machines,
    images: repos.images,
    effective,
    groupByRules: (mac, ip) => groups.matchRules(mac, ip),
    settings,
    sessions: bootSessions,
    events: repos.bootEvents,
    recorder: bootEventRecorder,
    sessionsRepo: repos.sessions,
    drainDhcpLog: () => dhcp.drain(),
    bus,
    log,
    httpPort: bootUrlPort,
    guard: bootGuard,
    registration,
    maintenance,
  });
  // client agent (issue 14 point 4): per-session tokens, reports, commands by long poll
  const agent = new AgentService({
    repo: new AgentRepository(db),
    machinesRepo: repos.machines,
    events: repos.bootEvents,
    recorder: bootEventRecorder,
    orchestrator,
    bus,
    log,
  });
  const stopAgent = agent.start();
  machines.useAgents(agent);
  const bootHttp = new BootHttpListener({
    boot,
    media,
    agent,
    limits: bootLimits,
    settings,
    bus,
    log,
    host: config.host,
    mainPort: () => runtime.httpPort,
    trustProxy: config.trustProxy,
    maxConnections: config.bootMaxConnections,
    maxConnectionsPerAddress: config.bootMaxConnectionsPerAddress,
    bodyTimeoutMs: config.bodyTimeoutSec * 1000,
  });

  // power (issue 14 point 3): Wake-on-LAN on the boot network, schedules in the site's time zone
  const wakeOnLan = opts.wakeOnLan ?? new UdpWakeOnLan();
  const wake = new WakeService({
    repo: repos.power,
    wol: wakeOnLan,
    settings,
    recorder: bootEventRecorder,
    log,
    now: opts.powerNow,
  });
  const powerSchedules = new PowerSchedules({
    repo: repos.power,
    wake,
    settings,
    audit: repos.audit,
    recorder: bootEventRecorder,
    bus,
    log,
    now: opts.powerNow,
    agent,
  });

  settings.addValidator(async (s) => {
    const id = s.machines.defaultImageId;
    if (id && !(await repos.images.existingIds([id])).length) {
      return [{ path: 'machines.defaultImageId', message: 'unknown image' }];
    }
    return [];
  });

  settings.addValidator(async (s) => {
    const id = s.machines.autoRegisterGroupId;
    if (id && !(await repos.groups.existingIds([id])).length)
      return [{ path: 'machines.autoRegisterGroupId', message: 'unknown group' }];
    return [];
  });

  settings.addValidator(async (s) => StorageService.validateSettings(s));

  settings.addValidator(async (s) => {
    const n = s.network;
    if (!n.bootEndpointOnlyOnBootListener) return [];
    if (n.bootHttpPort === null)
      return [
        {
          path: 'network.bootEndpointOnlyOnBootListener',
          message: 'needs network.bootHttpPort: the boot listener is opened on that port',
        },
      ];
    if (n.bootHttpPort === runtime.httpPort)
      return [
        {
          path: 'network.bootHttpPort',
          message: `must differ from the API's port (${runtime.httpPort}) to serve /boot/* only there`,
        },
      ];
    return [];
  });

  const closers: Array<() => Promise<void>> = [async () => stopAgent()];
  return {
    config,
    log,
    media,
    version: opts.version ?? '0.0.0',
    database,
    bus,
    metrics,
    runner,
    imageFiles,
    repos,
    qsd,
    auth,
    settings,
    users,
    images,
    machines,
    groups,
    releases,
    effective,
    targets,
    sessions,
    storage,
    iscsi,
    targetManager,
    /** The BootSessionStarter the boot endpoint (GET /boot/ipxe) calls. */
    orchestrator,
    sessionMonitor,
    traffic,
    reconciler,
    bootPreparer,
    jobs,
    qemuImg,
    uploads,
    tusStore,
    pgDump,
    backups,
    alerts,
    alertsMonitor,
    /** What the job worker can run (`ggnet serve` with GGNET_WORKER, or `ggnet worker`). */
    jobHandlers,
    runtime,
    dnsmasq,
    dhcp,
    bootSessions,
    boot,
    bootHttp,
    bootLimits,
    bootReports,
    registration,
    maintenance,
    wakeOnLan,
    wake,
    powerSchedules,
    qemuVms,
    consoleVms,
    agent,
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
