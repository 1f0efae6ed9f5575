import { z } from 'zod';
import { SettingsPatch } from '@ggnet/contracts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Boolean from a file (true/false) or an env var (true/false/1/0/yes/no). */
const Bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

const DB_URL_RE = /^(postgres|postgresql):\/\/.+|^sqlite:.+/;

/**
 * The process configuration: what must be known before the server starts. Runtime-changeable
 * knobs (DHCP, storage, iSCSI...) are Settings, stored in the database; `settings` here pins keys.
 */
export const ConfigSchema = z
  .object({
    dataDir: z.string().min(1),
    host: z.string().min(1).default('0.0.0.0'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** `postgres://user:pass@host/db` selects PostgreSQL; unset = SQLite file `<dataDir>/ggnet.db`. */
    databaseUrl: z.string().regex(DB_URL_RE, 'must be postgres://... or sqlite:<path>').optional(),
    adminPassword: z.string().min(8, 'must be at least 8 characters').max(256).optional(),
    jwtSecret: z.string().min(32, 'must be at least 32 characters').optional(),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    /** Directory from which `ggnet image import` / POST /images/import may read files. */
    importDir: z.string().min(1).optional(),
    /** Built web UI (apps/web/dist); served at / when present. */
    webDir: z.string().min(1).optional(),
    /** Run the job worker inside the server process (set false when running `ggnet worker` separately). */
    worker: Bool.default(true),
    /** A job whose worker has not renewed its lease for this long is retried by another worker. */
    workerLeaseSec: z.coerce.number().int().min(2).max(3600).default(30),
    /** Jobs one worker runs at the same time (conversions are disk-bound: 1 is usually best). */
    workerConcurrency: z.coerce.number().int().min(1).max(16).default(1),
    /** Trust X-Forwarded-For from a reverse proxy (nginx in deploy/). */
    trustProxy: Bool.default(false),
    /**
     * Port that PXE clients use for the boot endpoint when a reverse proxy serves /boot/ for GGnet
     * (deploy/install.sh --nginx: nginx's port 80 while GGnet listens on 127.0.0.1:8080). Boot URLs
     * handed out (DHCP, iPXE scripts) name this port; GGnet does not listen on it.
     * network.bootHttpPort, when set, wins.
     */
    bootPublicPort: z.coerce.number().int().min(1).max(65535).optional(),
    accessTokenTtlSec: z.coerce.number().int().min(30).max(86400).default(900),
    refreshTokenTtlSec: z.coerce
      .number()
      .int()
      .min(300)
      .max(365 * 86400)
      .default(30 * 86400),
    loginLimit: z
      .object({
        perIp: z.coerce.number().int().min(1).default(20),
        perUser: z.coerce.number().int().min(1).default(5),
        windowSec: z.coerce.number().int().min(1).default(60),
      })
      .default({ perIp: 20, perUser: 5, windowSec: 60 }),
    /** Control port of GGnet's own tgtd (its management socket is /var/run/tgtd/socket.<port>). */
    /** Where Debian's ipxe package installs undionly.kpxe, snponly.efi and ipxe.efi (copied to the TFTP root). */
    ipxeDir: z.string().min(1).default('/usr/lib/ipxe'),
    tgtControlPort: z.coerce.number().int().min(1).max(32767).default(7300),
    /** Reconcile interval (seconds): the loop that makes targets/writebacks/DHCP match the database. */
    reconcileIntervalSec: z.coerce.number().int().min(1).max(3600).default(30),
    /** How often the session monitor reads the targets' live state (logins, logouts, idle sessions). */
    sessionMonitorIntervalSec: z.coerce.number().int().min(1).max(300).default(3),
    /**
     * Open connections at most on the API port, and on the boot listener (network.bootHttpPort).
     * Process configuration, not a setting: it bounds the process's file descriptors (systemd's
     * LimitNOFILE) and must hold before the database is read. A 200-PC boot storm holds about one
     * connection per PC; a console tab about six.
     */
    maxConnections: z.coerce.number().int().min(16).max(65_535).default(1024),
    bootMaxConnections: z.coerce.number().int().min(16).max(65_535).default(1024),
    /** ... of them from one client address on the boot listener (a PC uses one or two at a time). */
    bootMaxConnectionsPerAddress: z.coerce.number().int().min(2).max(65_535).default(16),
    /** Headers and body of a request must arrive within this many seconds (uploads excepted). */
    bodyTimeoutSec: z.coerce.number().int().min(1).max(3600).default(30),
    /** Settings pinned by the operator (env or file); the API reports them as locked. */
    settings: SettingsPatch.default({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

/** Keys whose values are masked by `ggnet config`. */
export const SECRET_KEYS = ['adminPassword', 'jwtSecret', 'databaseUrl'] as const;
