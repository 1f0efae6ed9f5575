import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SpawnProcessRunner } from '../adapters/process/process-runner.adapter.js';
import { RealPgDump } from '../adapters/pg-dump/pg-dump.adapter.js';
import type { Config } from '../config/config.schema.js';
import type { Container } from '../container.js';
import { createLogger } from '../lib/logger.js';
import { assertNoServer, restoreBackup } from '../modules/backup/backup-restore.js';
import { CliError } from './image.js';

const fmtBytes = (n: number | null) =>
  n === null ? '?' : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;

/** `ggnet backup FILE|-`: a consistent backup, to a file (0600) or to stdout. */
export async function backupCommand(
  config: Config,
  argv: string[],
  _version: string,
  withContainer: <T>(fn: (c: Container) => Promise<T>) => Promise<T>,
): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const [file] = positionals;
  if (!file || positionals.length > 1)
    throw new CliError('usage: ggnet backup FILE|-', 'FILE gets a .tar.gz; - writes it to stdout');
  const toStdout = file === '-';
  if (toStdout && process.stdout.isTTY)
    throw new CliError(
      'the backup is binary: redirect stdout to a file',
      'ggnet backup - > ggnet-backup.tar.gz',
    );
  return withContainer(async (c) => {
    const target = toStdout ? '-' : resolve(file);
    const b = await c.backups.queue('cli', null, target);
    const done = await c.backups.run(b.id, toStdout ? process.stdout : target);
    const say = toStdout ? process.stderr : process.stdout;
    say.write(
      `backup ${toStdout ? 'written to stdout' : `written to ${target}`}${done.sizeBytes !== null ? ` (${fmtBytes(done.sizeBytes)})` : ''}: ${c.database.dialect} database at schema ${done.schema}, secrets, configuration, settings\n` +
        `image files are not in it: keep a copy of ${c.imageFiles.root} (or restore onto a server that has them)\n`,
    );
    return 0;
  });
}

/** `ggnet restore FILE|- [--force]`: restores a backup into this install (the server stopped). */
export async function restoreCommand(config: Config, argv: string[], version: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { force: { type: 'boolean' } },
  });
  const [file] = positionals;
  if (!file || positionals.length > 1)
    throw new CliError(
      'usage: ggnet restore FILE|- [--force]',
      'stop the server first: systemctl stop ggnet',
    );
  const log = createLogger('warn', process.stderr);
  const r = await restoreBackup(file === '-' ? process.stdin : resolve(file), {
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    pgDump: new RealPgDump(new SpawnProcessRunner()),
    log,
    version,
    assertStopped: values.force ? undefined : () => assertNoServer(config.port),
  });
  const out = [
    `restored the backup of ${r.from.hostname} made ${r.from.createdAt} by GGnet ${r.from.ggnetVersion} (schema ${r.from.schema})`,
    r.migrated.length ? `migrated to this GGnet's schema: ${r.migrated.join(', ')}` : 'schema: up to date',
    `${r.counts.users} users, ${r.counts.machines} machines, ${r.counts.images} images, ${r.counts.versions} versions`,
  ];
  if (r.versionsWithoutFile.length)
    out.push(
      `${r.versionsWithoutFile.length} ready version(s) have no file in ${resolve(config.dataDir, 'images')}: copy the images directory of the old server there to boot them (${r.versionsWithoutFile
        .slice(0, 5)
        .map((v) => `${v.imageId}/v${v.number}`)
        .join(', ')}${r.versionsWithoutFile.length > 5 ? ', ...' : ''})`,
    );
  if (r.sessionsEnded)
    out.push(`${r.sessionsEnded} live session(s) ended: their disks are not on this server`);
  if (r.configFiles.length)
    out.push(
      `configuration of the backup put aside (the files in use are unchanged): ${r.configFiles.join(', ')}`,
    );
  if (r.previous.length) out.push(`kept what it replaced: ${r.previous.join(', ')}`);
  out.push('start the server: systemctl start ggnet');
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
