import { isIP } from 'node:net';
import { z } from 'zod';
import { SettingsPatch } from '@ggnet/contracts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Boolean from a file (true/false) or an env var (true/false/1/0/yes/no). */
const Bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

/** A reverse proxy on this host (the shipped nginx connects from here). */
export const LOCAL_PROXY = ['127.0.0.1', '::1'];

/** Named address ranges a proxy list may use (the same names as Fastify's proxy-addr). */
export const TRUST_PRESETS = ['loopback', 'linklocal', 'uniquelocal'] as const;

/** An address, a CIDR (10.0.0.0/8, fd00::/8) or a preset. */
function trustEntryOk(entry: string): boolean {
  if ((TRUST_PRESETS as readonly string[]).includes(entry)) return true;
  const [addr, prefix, extra] = entry.split('/');
  const kind = addr ? isIP(addr) : 0;
  if (!kind || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= (kind === 4 ? 32 : 128);
}

/**
 * The reverse proxies whose X-Forwarded-For / -Proto GGnet believes: a list of addresses, CIDRs or
 * presets (comma-separated in the environment, a list or string in a file). The client address is
 * the right-most X-Forwarded-For entry that is not one of them, so a client's own header never picks
 * its address: nginx appends the address it saw. `true` (the old boolean) means 127.0.0.1 and ::1,
 * the shipped nginx on the same host; `false` or `none` trusts nobody. Default: 127.0.0.1 and ::1.
 */
const TrustProxy = z
  .union([z.boolean(), z.string().max(2000), z.array(z.string().max(100)).max(100)])
  .transform((v, ctx): string[] => {
    if (v === true || (typeof v === 'string' && ['true', '1', 'yes'].includes(v.trim()))) return LOCAL_PROXY;
    if (v === false || (typeof v === 'string' && ['false', '0', 'no', 'none', ''].includes(v.trim())))
      return [];
    const list = (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean);
    for (const e of list) {
      if (!trustEntryOk(e))
        ctx.addIssue({
          code: 'custom',
          message: `"${e}" is not an address, a CIDR such as 10.0.0.0/8, or one of ${TRUST_PRESETS.join(', ')}; list the addresses of the reverse proxies in front of GGnet, e.g. 127.0.0.1`,
        });
    }
    return list;
  });

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
    /** Bearer token that lets Prometheus scrape /metrics from another host (loopback needs none). */
    metricsToken: z
      .string()
      .min(24, 'must be at least 24 characters')
      .max(512)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional(),
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
    /** Reverse proxies whose X-Forwarded-For/-Proto are believed (nginx in deploy/); see TrustProxy. */
    trustProxy: TrustProxy.default(LOCAL_PROXY),
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
    /**
     * Login brute-force limits (see LoginGuard): attempts per address, failures per user from one
     * address, and failures per user from all addresses after which that user's password checks are
     * spaced slowdownMs apart (slowed down, never locked out).
     */
    loginLimit: z
      .object({
        perIp: z.coerce.number().int().min(1).default(20),
        perUser: z.coerce.number().int().min(1).default(5),
        slowdownAfter: z.coerce.number().int().min(1).default(10),
        slowdownMs: z.coerce.number().int().min(10).max(60_000).default(1000),
        windowSec: z.coerce.number().int().min(1).default(60),
      })
      .default({ perIp: 20, perUser: 5, slowdownAfter: 10, slowdownMs: 1000, windowSec: 60 }),
    /** Where Debian's ipxe package installs undionly.kpxe, snponly.efi and ipxe.efi (copied to the TFTP root). */
    ipxeDir: z.string().min(1).default('/usr/lib/ipxe'),
    /** Control port of GGnet's own tgtd (its management socket is /var/run/tgtd/socket.<port>). */
    tgtControlPort: z.coerce.number().int().min(1).max(32767).default(7300),
    /**
     * tgtd as GGnet runs it (default) or as Debian ships it (false): its command buffers kept in its
     * heap (glibc malloc tunables at its start, TGTD_MALLOC_TUNABLES) instead of a fresh mmap per
     * command, and targets that accept 256 KiB write PDUs instead of 8 KiB (TGT_TARGET_PARAMS). Each
     * about halves tgtd's CPU per byte (bench/README "iscsi-read"). The malloc part applies when a tgtd
     * starts (an adopted one keeps what it had), the PDU size to targets made from then on.
     */
    tgtdTuning: Bool.default(true),
    /**
     * QMP socket of the qemu-storage-daemon (storage backend qcow2) that systemd runs beside GGnet
     * (deploy/systemd/ggnet-storage.service: it may mount the FUSE exports, GGnet's unit may not).
     * Its pid file is qsd.pid in the same directory. Unset: GGnet starts and supervises its own.
     */
    qsdSocket: z
      .string()
      .regex(/^\/[A-Za-z0-9._/-]+$/, 'must be an absolute path (letters, digits, . _ - /)')
      .refine((p) => !p.split('/').includes('..'), 'must not contain ..')
      .optional(),
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
export const SECRET_KEYS = ['adminPassword', 'jwtSecret', 'metricsToken', 'databaseUrl'] as const;
