import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './config.schema.js';

/** Env var -> dotted config key. Settings pins are `settings.<group>.<key>`. */
export const ENV_KEYS: Record<string, string> = {
  GGNET_DATA_DIR: 'dataDir',
  GGNET_HOST: 'host',
  GGNET_PORT: 'port',
  GGNET_DATABASE_URL: 'databaseUrl',
  GGNET_ADMIN_PASSWORD: 'adminPassword',
  GGNET_JWT_SECRET: 'jwtSecret',
  GGNET_METRICS_TOKEN: 'metricsToken',
  GGNET_LOG_LEVEL: 'logLevel',
  GGNET_IMPORT_DIR: 'importDir',
  GGNET_WEB_DIR: 'webDir',
  GGNET_WORKER: 'worker',
  GGNET_WORKER_LEASE: 'workerLeaseSec',
  GGNET_WORKER_CONCURRENCY: 'workerConcurrency',
  GGNET_TRUST_PROXY: 'trustProxy',
  GGNET_BOOT_PUBLIC_PORT: 'bootPublicPort',
  GGNET_ACCESS_TOKEN_TTL: 'accessTokenTtlSec',
  GGNET_REFRESH_TOKEN_TTL: 'refreshTokenTtlSec',
  GGNET_LOGIN_LIMIT_PER_IP: 'loginLimit.perIp',
  GGNET_LOGIN_LIMIT_PER_USER: 'loginLimit.perUser',
  GGNET_LOGIN_SLOWDOWN_AFTER: 'loginLimit.slowdownAfter',
  GGNET_LOGIN_SLOWDOWN_MS: 'loginLimit.slowdownMs',
  GGNET_TGT_CONTROL_PORT: 'tgtControlPort',
  GGNET_TGTD_TUNING: 'tgtdTuning',
  GGNET_QSD_SOCKET: 'qsdSocket',
  GGNET_RECONCILE_INTERVAL: 'reconcileIntervalSec',
  GGNET_IPXE_DIR: 'ipxeDir',
  GGNET_SESSION_MONITOR_INTERVAL: 'sessionMonitorIntervalSec',
  GGNET_MAX_CONNECTIONS: 'maxConnections',
  GGNET_BOOT_MAX_CONNECTIONS: 'bootMaxConnections',
  GGNET_BOOT_MAX_CONNECTIONS_PER_ADDRESS: 'bootMaxConnectionsPerAddress',
  GGNET_BODY_TIMEOUT: 'bodyTimeoutSec',
  // settings pins (documented in the README's configuration reference)
  GGNET_DHCP_MODE: 'settings.dhcp.mode',
  GGNET_BOOT_IFACE: 'settings.dhcp.iface',
  GGNET_BOOT_ADDR: 'settings.network.bootAddr',
  GGNET_BOOT_HTTP_PORT: 'settings.network.bootHttpPort',
  GGNET_DHCP_RANGE: 'settings.dhcp.range',
  GGNET_ISCSI_BACKEND: 'settings.iscsi.backend',
  GGNET_ISCSI_PORTAL: 'settings.iscsi.portal',
  GGNET_ISCSI_DOMAIN: 'settings.iscsi.iqnDomain',
  GGNET_TGT_DAEMONS: 'settings.iscsi.daemons',
  GGNET_STORAGE_BACKEND: 'settings.storage.backend',
  GGNET_STORAGE_RESERVE: 'settings.storage.reserveBytes',
  GGNET_AUTO_REGISTER: 'settings.machines.autoRegister',
};

const NUMERIC_SETTINGS = new Set([
  'settings.network.bootHttpPort',
  'settings.storage.reserveBytes',
  'settings.iscsi.daemons',
]);

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts.at(-1)!] = value;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = path.endsWith('.json') ? JSON.parse(text) : parseToml(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(
      `config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'TOML'}: ${(err as Error).message}`,
    );
  }
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Skip /etc/ggnet/* lookup (tests). */
  noSystemFile?: boolean;
  isRoot?: boolean;
}

/**
 * Effective config = defaults <- config file (GGNET_CONFIG or /etc/ggnet/ggnet.toml|json) <- GGNET_* env.
 * Throws ConfigError naming the offending key (and its env var) when anything is invalid.
 */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const isRoot = opts.isRoot ?? process.getuid?.() === 0;
  let raw: Record<string, unknown> = {};
  let file: string | undefined = env.GGNET_CONFIG;
  if (!file && !opts.noSystemFile) {
    file = ['/etc/ggnet/ggnet.toml', '/etc/ggnet/ggnet.json'].find((f) => existsSync(f));
  }
  if (file) raw = readConfigFile(file);

  const fromEnv = new Map<string, string>();
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (key === 'settings.dhcp.range') {
      fromEnv.set('settings.dhcp.rangeStart', name).set('settings.dhcp.rangeEnd', name);
      const [start, end, extra] = value.split(',').map((s) => s.trim());
      if (!start || !end || extra !== undefined)
        throw new ConfigError(`${name}: must be "first,last", e.g. 10.0.0.100,10.0.0.199`);
      setPath(raw, 'settings.dhcp.rangeStart', start);
      setPath(raw, 'settings.dhcp.rangeEnd', end);
      continue;
    }
    fromEnv.set(key, name);
    const typed = NUMERIC_SETTINGS.has(key) && /^\d+$/.test(value) ? Number(value) : value;
    setPath(raw, key, typed);
  }
  if (raw.dataDir === undefined) raw.dataDir = isRoot ? '/var/lib/ggnet' : resolve('data');

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error, fromEnv, file));
  const cfg = result.data;
  cfg.dataDir = resolve(cfg.dataDir);
  return cfg;
}

function formatIssues(error: z.ZodError, fromEnv: Map<string, string>, file?: string): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.join('.');
    const envName = fromEnv.get(key);
    const where = envName ? ` (from ${envName})` : file ? ` (from ${file})` : '';
    return `  ${key || '(root)'}${where}: ${issue.message}`;
  });
  return `invalid configuration:\n${lines.join('\n')}`;
}

/** Config as printed by `ggnet config`: secrets masked. */
export function maskConfig(cfg: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...cfg };
  if (cfg.adminPassword) out.adminPassword = '********';
  if (cfg.jwtSecret) out.jwtSecret = '********';
  if (cfg.metricsToken) out.metricsToken = '********';
  if (cfg.databaseUrl) out.databaseUrl = cfg.databaseUrl.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:********@');
  return out;
}
