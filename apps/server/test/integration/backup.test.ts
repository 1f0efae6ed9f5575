import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Backup, BackupManifest, Image, Machine, Page, User } from '@ggnet/contracts';
import { buildApp } from '../../src/app.js';
import { RealPgDump } from '../../src/adapters/pg-dump/pg-dump.adapter.js';
import { SpawnProcessRunner } from '../../src/adapters/process/process-runner.adapter.js';
import { ConfigSchema, type Config } from '../../src/config/config.schema.js';
import { createContainer, type Container } from '../../src/container.js';
import { migrateToLatest, nowIso } from '../../src/db/database.js';
import { MIGRATION_NAMES } from '../../src/db/migrations/index.js';
import { AppError } from '../../src/errors/app-error.js';
import type { App } from '../../src/http/types.js';
import { newId } from '../../src/lib/ids.js';
import { extractArchive, writeArchive } from '../../src/modules/backup/archive.js';
import { restoreBackup } from '../../src/modules/backup/backup-restore.js';
import {
  ADMIN_PASSWORD,
  createPgDatabase,
  createTestContext,
  describeEachDialect,
  type Dialect,
  type TestContext,
} from '../helpers/test-context.js';
import { seedImage } from '../helpers/iscsi.js';

const log = pino({ level: 'silent' });
const mapItems = (
  page: { items: Array<Record<string, unknown>> },
  f: (x: Record<string, unknown>) => unknown,
) => ({
  ...page,
  items: page.items.map(f),
});

/** An empty install: its own data dir and database, migrated, with only the first admin. */
async function emptyInstall(dialect: Dialect) {
  const dataDir = mkdtempSync(join(tmpdir(), 'ggnet-restore-'));
  const pgdb = dialect === 'postgres' ? await createPgDatabase() : null;
  const config: Config = ConfigSchema.parse({
    dataDir,
    databaseUrl: pgdb?.url,
    logLevel: 'silent',
    host: '127.0.0.1',
    port: 0,
  });
  const c = createContainer(config, { log, configFiles: [] });
  await migrateToLatest(c.database);
  await c.users.bootstrapAdmin('first-admin-password');
  await c.close();
  let running: { c: Container; app: App } | null = null;
  return {
    config,
    dataDir,
    /** Starts the server's objects on the (restored) data dir and database. */
    async open() {
      const c2 = createContainer(config, { log, configFiles: [] });
      const app = await buildApp(c2);
      running = { c: c2, app };
      return running;
    },
    async close() {
      if (running) {
        await running.app.close();
        await running.c.close();
      }
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describeEachDialect('backup and restore', (dialect) => {
  let src: TestContext;
  let cfgDir: string;
  let machines: Machine[];
  let images: Image[];
  let backup: Backup;
  let file: string;
  const restoreOpts = (dataDir: string, databaseUrl: string | undefined) => ({
    dataDir,
    databaseUrl,
    pgDump: new RealPgDump(new SpawnProcessRunner()),
    log,
    version: 'test',
  });

  beforeAll(async () => {
    cfgDir = mkdtempSync(join(tmpdir(), 'ggnet-cfg-'));
    writeFileSync(join(cfgDir, 'ggnet.toml'), '# the configuration in use\nlogLevel = "info"\n');
    // no GGNET_JWT_SECRET: the key is generated into <data dir>/secrets, as on a real install
    src = await createTestContext(dialect, {
      config: { jwtSecret: undefined },
      container: { configFiles: [join(cfgDir, 'ggnet.toml'), join(cfgDir, 'missing.env')] },
    });
    const c = src.container;
    const img = await seedImage(c, 'win11-backup', { sizeMiB: 8, dataMiB: 1 });
    await c.users.create({ username: 'olga', password: 'olga-password-1', role: 'operator' });
    const h = await src.auth();
    for (const [name, mac] of [
      ['pc-01', '52:54:00:aa:00:01'],
      ['pc-02', '52:54:00:aa:00:02'],
    ]) {
      const r = await src.app.inject({
        method: 'POST',
        url: '/api/v1/machines',
        headers: h,
        payload: { name, mac, bootImageId: img.imageId },
      });
      expect(r.statusCode, r.body).toBe(201);
    }
    const s = await src.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: {
        boot: { menu: true, retries: 7 },
        machines: { namePattern: 'lab-{n}' },
        backup: { keep: 3 },
      },
    });
    expect(s.statusCode, s.body).toBe(200);
    // a live session whose disk will not be on the server it is restored to
    const m = (await c.repos.machines.findByMac('52:54:00:aa:00:02'))!;
    const sessionId = newId();
    const wbId = newId();
    await c.repos.sessions.insert({
      id: sessionId,
      machine_id: m.id,
      image_id: img.imageId,
      version_id: img.versionId,
      target_id: null,
      writeback_id: wbId,
      mode: 'normal',
      state: 'active',
      end_reason: null,
      error: null,
      client_ip: '10.0.0.2',
      started_at: nowIso(),
      ready_at: nowIso(),
      active_at: nowIso(),
      ended_at: null,
      last_activity_at: nowIso(),
      connections: '[]',
      traffic: null,
    });
    await c.repos.writebacks.insert({
      id: wbId,
      machine_id: m.id,
      image_id: img.imageId,
      version_id: img.versionId,
      session_id: sessionId,
      path: `writebacks/${wbId}.raw`,
      kept: 0,
      state: 'active',
      created_at: nowIso(),
      discarded_at: null,
      target_id: null,
      lun: 1,
      backend: 'copy',
      size_bytes: null,
      applied_version_id: null,
      error: null,
    });
    machines = (await src.app.inject({ url: '/api/v1/machines', headers: h })).json<Page<Machine>>().items;
    images = (await src.app.inject({ url: '/api/v1/images', headers: h })).json<Page<Image>>().items;
    expect(machines).toHaveLength(2);
    expect(images).toHaveLength(1);

    // a backup from the API: 202 and a queued job; the job's work is BackupService.run
    const r = await src.app.inject({ method: 'POST', url: '/api/v1/backups', headers: h });
    expect(r.statusCode, r.body).toBe(202);
    const queued = r.json<Backup>();
    expect(queued).toMatchObject({ state: 'queued', trigger: 'manual', createdBy: 'admin', dialect });
    const jobs = await c.jobs.list({ limit: 10, offset: 0, type: 'backup.create' });
    expect(jobs.items.map((j) => j.payload.backupId)).toContain(queued.id);
    backup = await c.backups.run(queued.id);
    file = join(c.backups.dir, backup.file);
  }, 120_000);

  afterAll(async () => {
    await src?.close();
    rmSync(cfgDir, { recursive: true, force: true });
  });

  it('lists the backup with its size, and serves the file for download', async () => {
    expect(backup.state).toBe('done');
    expect(backup.sizeBytes).toBe(statSync(file).size);
    expect(backup.schema).toBe(MIGRATION_NAMES.at(-1));
    const h = await src.auth();
    const list = (await src.app.inject({ url: '/api/v1/backups', headers: h })).json<Page<Backup>>();
    expect(list.items[0]).toMatchObject({
      id: backup.id,
      state: 'done',
      present: true,
      sizeBytes: backup.sizeBytes,
    });
    const status = (await src.app.inject({ url: '/api/v1/backups/status', headers: h })).json();
    expect(status).toMatchObject({ daily: true, keep: 3, totalBytes: backup.sizeBytes, lastFailure: null });
    const dl = await src.app.inject({ url: `/api/v1/backups/${backup.id}/download`, headers: h });
    expect(dl.statusCode).toBe(200);
    expect(dl.headers['content-disposition']).toContain(backup.file);
    expect(createHash('sha256').update(dl.rawPayload).digest('hex')).toBe(
      createHash('sha256').update(readFileSync(file)).digest('hex'),
    );
    // admins only
    const op = await src.app.inject({ url: '/api/v1/backups', headers: await src.auth('operator') });
    expect(op.statusCode).toBe(403);
    // what is inside: manifest, database, secrets, configuration, settings
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-bk-'));
    try {
      const files = await extractArchive(file, dir);
      expect([...files.keys()].sort()).toEqual(
        [
          'config/ggnet.toml',
          dialect === 'sqlite' ? 'database/ggnet.db' : 'database/ggnet.pgdump',
          'manifest.json',
          'secrets/jwt-secret',
          'settings.json',
        ].sort(),
      );
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BackupManifest;
      expect(m).toMatchObject({ format: 'ggnet-backup', dialect, backupId: backup.id });
      expect(m.migrations).toEqual([...MIGRATION_NAMES]);
      expect(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8'))).toMatchObject({
        boot: { retries: 7 },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('restores into an empty install: the API shows the same users, machines, images, versions and settings', async () => {
    const target = await emptyInstall(dialect);
    try {
      // image files are not in a backup: the admin copies <data dir>/images over (rsync)
      execFileSync('cp', [
        '-a',
        '--sparse=always',
        join(src.dataDir, 'images'),
        join(target.dataDir, 'images'),
      ]);
      const report = await restoreBackup(file, restoreOpts(target.dataDir, target.config.databaseUrl));
      expect(report.counts).toEqual({ users: 2, machines: 2, images: 1, versions: 1 });
      expect(report.versionsWithoutFile).toEqual([]);
      expect(report.sessionsEnded).toBe(1);
      expect(report.configFiles).toEqual([join(target.dataDir, 'restored-config', 'ggnet.toml')]);
      expect(readFileSync(report.configFiles[0]!, 'utf8')).toContain('the configuration in use');
      const { c, app } = await target.open();
      // the JWT key came along: a token of the old server is valid on the restored one
      const h = await src.auth();
      const get = async (url: string, headers = h) => {
        const r = await app.inject({ url, headers });
        expect(r.statusCode, `${url}: ${r.body}`).toBe(200);
        return r.json();
      };
      // pc-02's session ended with the restore (its disk is not on this server)
      expect((await get('/api/v1/machines')).items).toEqual(
        machines.map((m) => (m.sessionId ? { ...m, sessionId: null, status: 'offline' } : m)),
      );
      expect(machines.filter((m) => m.sessionId)).toHaveLength(1);
      expect((await get('/api/v1/images')).items).toEqual(images);
      const srcGet = async (url: string) => (await src.app.inject({ url, headers: h })).json();
      // (no longer in use: the session that used it was ended)
      expect(await get(`/api/v1/images/${images[0]!.id}/versions`)).toEqual(
        mapItems(await srcGet(`/api/v1/images/${images[0]!.id}/versions`), (v) => ({ ...v, inUse: false })),
      );
      expect(await get('/api/v1/settings')).toEqual(await srcGet('/api/v1/settings'));
      const users = ((await get('/api/v1/users')).items as User[]).map((u) => [u.username, u.role]).sort();
      expect(users).toEqual([
        ['admin', 'admin'],
        ['olga', 'operator'],
      ]);
      // passwords came along too
      const login = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'olga', password: 'olga-password-1' },
      });
      expect(login.statusCode).toBe(200);
      const admin = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'admin', password: ADMIN_PASSWORD },
      });
      expect(admin.statusCode).toBe(200);
      // the session whose disk is not here was ended; its backup row is done
      const sessions = (await get('/api/v1/sessions?live=true')).items as unknown[];
      expect(sessions).toEqual([]);
      const b = (await get(`/api/v1/backups/${backup.id}`)) as Backup;
      expect(b.state).toBe('done');
      expect(readFileSync(join(target.dataDir, 'secrets', 'jwt-secret'), 'utf8')).toBe(
        readFileSync(join(src.dataDir, 'secrets', 'jwt-secret'), 'utf8'),
      );
      expect(c.database.dialect).toBe(dialect);
    } finally {
      await target.close();
    }
  }, 120_000);

  it('without the image files: the versions are restored and reported as lacking their files', async () => {
    const target = await emptyInstall(dialect);
    try {
      const report = await restoreBackup(file, restoreOpts(target.dataDir, target.config.databaseUrl));
      expect(report.versionsWithoutFile).toEqual([
        { imageId: images[0]!.id, versionId: images[0]!.publishedVersionId, number: 1 },
      ]);
      expect(report.counts.versions).toBe(1);
    } finally {
      await target.close();
    }
  }, 120_000);

  const repack = async (change: (dir: string, m: BackupManifest) => void): Promise<string> => {
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-bk-'));
    const files = await extractArchive(file, dir);
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BackupManifest;
    change(dir, m);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const out = join(dir, 'changed.tar.gz');
    await writeArchive(
      [...files.keys()].map((name) => ({ name, path: join(dir, name) })),
      out,
    );
    return out;
  };

  const refused = async (f: string, code: string, status: number) => {
    const target = await emptyInstall(dialect);
    try {
      const before = (await target.open()).c;
      const n = (await before.users.list({ limit: 10, offset: 0 })).total;
      const err = await restoreBackup(f, restoreOpts(target.dataDir, target.config.databaseUrl)).catch(
        (e) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code, statusCode: status });
      // nothing changed
      expect((await before.users.list({ limit: 10, offset: 0 })).total).toBe(n);
      expect(existsSync(join(target.dataDir, 'restored-config'))).toBe(false);
      return err as AppError;
    } finally {
      await target.close();
    }
  };

  it('refuses a backup from a newer GGnet (a migration it does not know), before changing anything', async () => {
    const f = await repack((_d, m) => {
      m.migrations.push('0099-from-the-future');
      m.ggnetVersion = '9.0.0';
    });
    const err = await refused(f, 'backup_newer_schema', 422);
    expect(err.message).toContain('newer GGnet (9.0.0)');
    expect(err.message).toContain('0099-from-the-future');
    expect(err.hint).toContain('install GGnet 9.0.0 or newer');
  }, 60_000);

  it('refuses a damaged backup and one of the other database kind', async () => {
    const damaged = await repack((dir) => writeFileSync(join(dir, 'settings.json'), '{"tampered": true}\n'));
    await refused(damaged, 'backup_damaged', 400);
    const other = await repack((_d, m) => {
      m.dialect = dialect === 'sqlite' ? 'postgres' : 'sqlite';
    });
    await refused(other, 'backup_other_database', 422);
    const junk = join(tmpdir(), `ggnet-junk-${randomBytes(4).toString('hex')}.tar.gz`);
    writeFileSync(junk, randomBytes(2048));
    try {
      await refused(junk, 'backup_unreadable', 400);
    } finally {
      rmSync(junk, { force: true });
    }
  }, 60_000);

  it('daily backups: made when due, the oldest beyond backup.keep deleted with their files', async () => {
    const c = src.container;
    await c.settings.update({ backup: { hour: 0, keep: 2 } }, null);
    const t0 = Date.now();
    const made: Backup[] = [];
    for (let day = 0; day < 3; day++) {
      const r = await c.backups.runScheduled(new Date(t0 + day * 24 * 3600_000));
      expect(r.backup, `day ${day}`).not.toBeNull();
      made.push(r.backup!);
    }
    // not due again within the day
    expect((await c.backups.runScheduled(new Date(t0 + 2 * 24 * 3600_000 + 3600_000))).backup).toBeNull();
    const list = (await c.backups.list({ limit: 50, offset: 0, trigger: 'scheduled' })).items;
    expect(list.map((b) => b.id).sort()).toEqual([made[1]!.id, made[2]!.id].sort());
    expect(existsSync(join(c.backups.dir, made[0]!.file))).toBe(false);
    expect(existsSync(join(c.backups.dir, made[2]!.file))).toBe(true);
    // the manual backup is not the schedule's to delete
    expect((await c.backups.get(backup.id)).present).toBe(true);
    await c.settings.update({ backup: { daily: false } }, null);
    expect((await c.backups.runScheduled(new Date(t0 + 10 * 24 * 3600_000))).backup).toBeNull();
  }, 120_000);
});
