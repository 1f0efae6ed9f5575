import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DHCP_SNIPPET_FORMATS, DhcpSnippetFormat, Password, Role, ROLES, Username } from '@ggnet/contracts';
import { ConfigError, loadConfig, maskConfig } from './config/config.loader.js';
import type { Config } from './config/config.schema.js';
import { createContainer } from './container.js';
import { migrateToLatest } from './db/database.js';
import { AppError } from './errors/app-error.js';
import { createLogger } from './lib/logger.js';
import { secureDataDir } from './lib/data-dir.js';
import { randomSecret } from './lib/ids.js';
import { SpawnProcessRunner } from './adapters/process/process-runner.adapter.js';
import { formatTable, runDoctor } from './cli/doctor.js';
import { startServer } from './server.js';
import { backgroundServices } from './background.js';
import { CliError, imageImport, imageUpload } from './cli/image.js';
import { createJobWorker } from './modules/jobs/job-services.js';
import { backupCommand, restoreCommand } from './cli/backup.js';

const VERSION = (() => {
  try {
    const pkg = JSON.parse(
      readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'), 'utf8'),
    );
    return String(pkg.version);
  } catch {
    return '0.0.0';
  }
})();

const USAGE = `GGnet ${VERSION}: diskless boot server

usage: ggnet <command> [options]

  serve                         run the server (API + web UI + boot endpoint); migrates first
  migrate                       run database migrations and exit
  user create NAME [--role admin|operator|viewer] [--password P | --password-stdin]
  user passwd NAME [--password P | --password-stdin]
  user list
  worker                        run the job worker alone (conversions...); pair with GGNET_WORKER=false on serve
  image upload FILE [--name N] [--server URL] [--user U --password P | --token T] [--sha256 HEX | --no-checksum]
                                upload an image (resumable: run it again after an interruption);
                                credentials also from GGNET_USER/GGNET_PASSWORD or GGNET_TOKEN, server from GGNET_SERVER
  image import PATH [--name N] [--sha256 HEX] [--no-wait]
                                import a file from the import directory (GGNET_IMPORT_DIR) on this server
  dhcp snippet [--format isc|kea|dnsmasq|router]
                                configuration for the site's own DHCP server (dhcp.mode=off)
  backup FILE|-                 a backup of the database, secrets, configuration and settings (.tar.gz; - = stdout)
  restore FILE|- [--force]      restore a backup into this install (stop the server first); - = stdin
  doctor                        check the host (tools, iPXE, space, ports, reflink); exit 1 if something required is missing
  config                        print the effective configuration (secrets masked)
  version

Configuration: GGNET_* environment variables and /etc/ggnet/ggnet.toml (or GGNET_CONFIG); see the README.`;

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

function fail(message: string, hint?: string): never {
  process.stderr.write(`ggnet: ${message}\n${hint ? `  hint: ${hint}\n` : ''}`);
  process.exit(1);
}

async function withContainer<T>(
  config: Config,
  fn: (c: ReturnType<typeof createContainer>) => Promise<T>,
): Promise<T> {
  const c = createContainer(config, { log: createLogger('warn', process.stderr), version: VERSION });
  try {
    await migrateToLatest(c.database);
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function main(argv: string[]): Promise<void> {
  // everything GGnet (and the tools it starts) creates is its user's only; the few files dnsmasq
  // must read after dropping root get their modes explicitly (see lib/data-dir.ts)
  process.umask(0o077);
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (cmd === 'version' || cmd === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 'see the configuration reference in the README');
    throw err;
  }

  switch (cmd) {
    case 'serve': {
      const log = createLogger(config.logLevel);
      const server = await startServer(config, {
        log,
        version: VERSION,
        services: backgroundServices,
        announce: (line) => {
          process.stdout.write(`\n*** ${line}\n\n`);
          // the password itself only on stdout (once); the log says where it went
          log.warn(
            line.includes('generated password')
              ? 'created user "admin" with a generated password, printed once on stdout (not in this log)'
              : line,
          );
        },
      });
      log.info(
        { url: server.url, dataDir: config.dataDir, database: server.container.database.location },
        'GGnet is up',
      );
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        const force = setTimeout(() => process.exit(1), 20_000);
        force.unref();
        server.stop().then(
          () => process.exit(0),
          (err) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
      return;
    }
    case 'migrate': {
      const c = createContainer(config, { log: createLogger('warn'), version: VERSION });
      try {
        const r = await migrateToLatest(c.database);
        process.stdout.write(
          `${c.database.dialect} ${c.database.location}: ${r.applied.length ? `applied ${r.applied.join(', ')}` : 'up to date'} (current: ${r.current})\n`,
        );
      } finally {
        await c.close();
      }
      return;
    }
    case 'user':
      return userCommand(config, rest);
    case 'worker':
      return workerCommand(config);
    case 'image': {
      const [sub, ...args] = rest;
      if (sub === 'upload') process.exitCode = await imageUpload(args);
      else if (sub === 'import')
        process.exitCode = await imageImport(config, args, (fn) => withContainer(config, fn));
      else fail('usage: ggnet image upload FILE ... | ggnet image import PATH ...');
      return;
    }
    case 'dhcp':
      return dhcpCommand(config, rest);
    case 'backup':
      process.exitCode = await backupCommand(config, rest, VERSION, (fn) => withContainer(config, fn));
      return;
    case 'restore':
      process.exitCode = await restoreCommand(config, rest, VERSION);
      return;
    case 'doctor': {
      const runner = new SpawnProcessRunner();
      const rows = await runDoctor(config, runner, config.settings.storage?.reserveBytes ?? 10 * 1024 ** 3);
      process.stdout.write(`${formatTable(rows)}\n`);
      const failed = rows.filter((r) => r.required && r.status === 'fail');
      if (failed.length) {
        process.stdout.write(
          `\n${failed.length} required check(s) failed: ${failed.map((f) => f.name).join(', ')}\n`,
        );
        process.exitCode = 1;
      }
      return;
    }
    case 'config':
      process.stdout.write(`${JSON.stringify(maskConfig(config), null, 2)}\n`);
      return;
    default:
      fail(`unknown command ${JSON.stringify(cmd)}`, 'run `ggnet help`');
  }
}

/** `ggnet worker`: the job worker as its own process, until SIGTERM/SIGINT. */
async function workerCommand(config: Config): Promise<void> {
  secureDataDir(config.dataDir);
  const log = createLogger(config.logLevel);
  const c = createContainer(config, { log, version: VERSION });
  await migrateToLatest(c.database);
  const worker = createJobWorker(c);
  worker.start();
  log.info(
    { worker: worker.id, dataDir: config.dataDir, database: c.database.location },
    'GGnet worker is up',
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'worker shutting down');
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    worker
      .stop()
      .then(() => c.close())
      .then(
        () => process.exit(0),
        (err) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function dhcpCommand(config: Config, argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { format: { type: 'string', default: 'isc' } },
  });
  if (positionals[0] !== 'snippet') fail('usage: ggnet dhcp snippet [--format isc|kea|dnsmasq|router]');
  const format = DhcpSnippetFormat.safeParse(values.format);
  if (!format.success)
    fail(`unknown format ${JSON.stringify(values.format)}`, `one of ${DHCP_SNIPPET_FORMATS.join(', ')}`);
  await withContainer(config, async (c) => {
    const s = await c.dhcp.snippet(format.data);
    process.stdout.write(s.text);
  });
}

async function userCommand(config: Config, argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      role: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
  });
  const [sub, name] = positionals;
  const password = async (): Promise<{ pw: string; generated: boolean }> => {
    if (values['password-stdin']) return { pw: await readStdinLine(), generated: false };
    if (values.password) return { pw: values.password, generated: false };
    return { pw: randomSecret(12), generated: true };
  };
  switch (sub) {
    case 'list':
      await withContainer(config, async (c) => {
        const page = await c.users.list({ limit: 500, offset: 0 });
        process.stdout.write(`${'USERNAME'.padEnd(24)}${'ROLE'.padEnd(10)}${'STATE'.padEnd(10)}LAST LOGIN\n`);
        for (const u of page.items) {
          process.stdout.write(
            `${u.username.padEnd(24)}${u.role.padEnd(10)}${(u.disabled ? 'disabled' : 'enabled').padEnd(10)}${u.lastLoginAt ?? '-'}\n`,
          );
        }
      });
      return;
    case 'create': {
      const username = Username.safeParse(name ?? '');
      if (!username.success) fail(`invalid username: ${username.error.issues[0]?.message}`);
      const role = Role.safeParse(values.role ?? 'viewer');
      if (!role.success) fail(`invalid role ${JSON.stringify(values.role)}`, `one of ${ROLES.join(', ')}`);
      const { pw, generated } = await password();
      if (!Password.safeParse(pw).success) fail('password must be 8 to 256 characters');
      await withContainer(config, async (c) => {
        const u = await c.users.create({ username: username.data, password: pw, role: role.data });
        process.stdout.write(`created ${u.role} ${u.username}${generated ? ` with password: ${pw}` : ''}\n`);
      });
      return;
    }
    case 'passwd': {
      if (!name) fail('usage: ggnet user passwd NAME [--password P | --password-stdin]');
      const { pw, generated } = await password();
      if (!Password.safeParse(pw).success) fail('password must be 8 to 256 characters');
      await withContainer(config, async (c) => {
        const u = await c.users.setPasswordByUsername(name, pw);
        process.stdout.write(
          `password of ${u.username} changed${generated ? ` to: ${pw}` : ''}; their logins were ended\n`,
        );
      });
      return;
    }
    default:
      fail('usage: ggnet user create|passwd|list ...');
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof AppError || err instanceof CliError) fail(err.message, err.hint);
  if (err instanceof ConfigError) fail(err.message);
  process.stderr.write(`ggnet: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
