import { z } from 'zod';
import { Id } from './common.js';
import { Ipv4, ZfsDataset } from './names.js';
import { DOMAIN_RE } from './plain.js';

export const DHCP_MODES = ['off', 'dhcp', 'proxy'] as const;
export const DhcpMode = z.enum(DHCP_MODES);
export type DhcpMode = z.infer<typeof DhcpMode>;

export const STORAGE_BACKENDS = ['reflink', 'zfs', 'copy', 'qcow2'] as const;
export const StorageBackend = z.enum(STORAGE_BACKENDS);
export type StorageBackend = z.infer<typeof StorageBackend>;

export const AUTO_REGISTER = ['off', 'pending', 'auto'] as const;

const IFACE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,14}$/;
export const PORTAL_RE =
  /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}):(\d{1,5})$/;

const Port = z.number().int().min(1).max(65535);

// alerts: the webhook URL an admin sets (http/https only, no credentials in it, at most 2048 chars)
// (a pattern, not `new URL()`: contracts are built without DOM or Node types)
const WEBHOOK_URL_RE = /^https?:\/\/(?![^/?#]*@)[A-Za-z0-9.-]+(:\d{1,5})?([/?#][^\s]*)?$/i;
const WebhookUrl = z
  .string()
  .max(2048)
  .regex(WEBHOOK_URL_RE, 'must be an http:// or https:// URL without user:password@');

/** Settings that are write-only: the settings API and its events answer SECRET_MASK instead of the value. */
export const SECRET_SETTINGS = [['alerts', 'webhookSecret']] as const;

/** An IANA time zone name that this runtime's Intl knows (Europe/Berlin, UTC...). */
export function isTimeZone(name: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runtime settings: stored in the database, changed from the UI or `PUT /api/v1/settings`.
 * Environment variables (GGNET_DHCP_MODE, ...) pin single keys; pinned keys are reported as `locked`.
 */
export const Settings = z.object({
  network: z.object({
    /** Address clients use to reach GGnet's HTTP boot endpoint and iSCSI portal; null = first address of dhcp.iface. */
    bootAddr: Ipv4.nullable().default(null),
    /** Port of the plain-HTTP boot endpoint when it differs from the API's. */
    bootHttpPort: Port.nullable().default(null),
    /**
     * Serve /boot/* only on the boot listener (network.bootHttpPort): the API's port then answers
     * /boot/* with 404, so it need not face the boot network at all.
     */
    bootEndpointOnlyOnBootListener: z.boolean().default(false),
  }),
  dhcp: z.object({
    mode: DhcpMode.default('off'),
    iface: z
      .string()
      .regex(IFACE_RE, 'must be a network interface name such as eth1')
      .nullable()
      .default(null),
    rangeStart: Ipv4.nullable().default(null),
    rangeEnd: Ipv4.nullable().default(null),
    netmask: Ipv4.default('255.255.255.0'),
    router: Ipv4.nullable().default(null),
    dns: z.array(Ipv4).max(4).default([]),
    leaseTimeSec: z
      .number()
      .int()
      .min(120)
      .max(7 * 86400)
      .default(3600),
    /** Send IPv6 router advertisements on the boot segment so that iPXE does not wait ~13 s for IPv6. */
    ipv6Ra: z.boolean().default(true),
  }),
  boot: z.object({
    /** Show a menu (normal / maintenance / local disk) before booting. */
    menu: z.boolean().default(false),
    menuTimeoutSec: z.number().int().min(0).max(300).default(5),
    /** sanboot retries in the iPXE script before the error screen. */
    retries: z.number().int().min(0).max(20).default(3),
    /** How long the client waits before asking again while pending approval. */
    pendingRetrySec: z.number().int().min(2).max(600).default(10),
    /**
     * Maintenance chosen from the boot menu waits for an operator's approval in the console. With
     * neither this nor a maintenance PIN (PUT /api/v1/boot/maintenance-pin) the menu does not offer
     * maintenance at all.
     */
    maintenanceApproval: z.boolean().default(false),
    /**
     * Requests to /boot/* per MAC: sustained per minute (0 = no limit) and burst. A PC asks at
     * most every 2 s while its disk is prepared or it waits for approval; these leave it 2x room.
     */
    macRequestsPerMin: z.number().int().min(0).max(60_000).default(60),
    macBurst: z.number().int().min(1).max(10_000).default(20),
    /** Requests to /boot/* per client address: sustained per minute (0 = no limit) and burst. */
    addressRequestsPerMin: z.number().int().min(0).max(60_000).default(120),
    addressBurst: z.number().int().min(1).max(10_000).default(40),
    /**
     * Boots prepared before the PC asks (issue 12): when a session ends, and for every machine that
     * can boot (new machines, a newly published version), GGnet makes the next boot's writeback,
     * target, ACL and CHAP account in the background, so `GET /boot/ipxe` only claims it.
     */
    prepareAhead: z.boolean().default(true),
    /** Pause between two background preparations (ms), so that running clients feel nothing. */
    preparePaceMs: z.number().int().min(0).max(60_000).default(100),
  }),
  storage: z.object({
    /** null = detected at start-up (qcow2 where the storage unit runs QEMU >= 10, else reflink where supported, else copy). */
    backend: StorageBackend.nullable().default(null),
    /** Free bytes below which new writebacks are refused. */
    reserveBytes: z
      .number()
      .int()
      .min(0)
      .default(10 * 1024 ** 3),
    /**
     * Ready-made reflink clones kept per published version, so that a boot only renames one (constant
     * time, whatever the size and fragmentation of the image); refilled in the background. reflink only.
     * They cost no data space: set it to the number of machines that boot at the same moment.
     */
    spareClones: z.number().int().min(0).max(200).default(4),
    /** Keep the uploaded source file (VHDX...) after the raw conversion is verified. */
    keepSource: z.boolean().default(false),
    /** Unprotected, unpublished versions kept per image; older ones are deleted by the retention job. */
    retainVersions: z.number().int().min(1).max(100).default(5),
    /** Parent dataset of GGnet's zvols (storage.backend=zfs), e.g. tank/ggnet. */
    zfsDataset: ZfsDataset.nullable().default(null),
  }),
  iscsi: z.object({
    backend: z.enum(['tgt', 'lio']).default('tgt'),
    /** host:port the target listens on. */
    portal: z.string().regex(PORTAL_RE, 'must be host:port such as 0.0.0.0:3260').default('0.0.0.0:3260'),
    /** Domain from which target and initiator IQNs are built (iqn.yyyy-mm.<reversed domain>:<machine>). */
    iqnDomain: z.string().regex(DOMAIN_RE, 'must be a DNS domain such as ggnet.lan').default('ggnet.lan'),
    /** The yyyy-mm part of IQNs (a month in which the domain was owned, per RFC 3720). */
    iqnDate: z
      .string()
      .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be yyyy-mm')
      .default('2024-01'),
    mutualChap: z.boolean().default(false),
    /**
     * tgt: how many tgtd instances serve the targets (0 = one per CPU core). Daemon i has control port
     * GGNET_TGT_CONTROL_PORT + i and listens on the portal's port + i; machines are spread across them.
     * Read when GGnet starts.
     */
    daemons: z.number().int().min(0).max(64).default(0),
  }),
  machines: z.object({
    autoRegister: z.enum(AUTO_REGISTER).default('pending'),
    defaultImageId: Id.nullable().default(null),
    /** Name of auto-registered machines; `{n}` is a counter, `{mac}` the MAC without colons. */
    namePattern: z
      .string()
      .regex(
        /^[a-z0-9-]*(\{n\}|\{mac\})[a-z0-9-]*$/,
        'must contain {n} or {mac} and otherwise hostname characters',
      )
      .default('pc-{n}'),
    /** Unknown PCs registered by their first boot (pending or auto) per hour; more are refused. */
    registerPerHour: z.number().int().min(1).max(100_000).default(250),
    /** Pending machines at most; when full, stale ones (see pendingExpireSec) make room, oldest first. */
    pendingMax: z.number().int().min(1).max(100_000).default(500),
    /** A pending machine not seen for this long is stale: it gives its place to a new PC when the list is full. */
    pendingExpireSec: z
      .number()
      .int()
      .min(120)
      .max(30 * 86400)
      .default(900),
    /** autoRegister=auto stops registering once there are this many machines in all. */
    autoRegisterMax: z.number().int().min(1).max(100_000).default(500),
    // ---- groups (issue 14 point 1) ----
    /**
     * The group an auto-registered PC joins when no group's rule (MAC prefix, address range) matches
     * it; null = no group.
     */
    autoRegisterGroupId: Id.nullable().default(null),
  }),
  backup: z.object({
    /** A backup of the database, secrets, configuration and settings every day (to <data dir>/backups). */
    daily: z.boolean().default(true),
    /** Hour of the day (server time, 0-23) at or after which the daily backup runs. */
    hour: z.number().int().min(0).max(23).default(3),
    /** Daily backups kept; older ones are deleted after each new one. */
    keep: z.number().int().min(1).max(365).default(7),
  }),
  /** Power (issue 14 point 3): Wake-on-LAN and power schedules. */
  power: z.object({
    /**
     * The site's time zone (IANA name such as Europe/Berlin) in which power schedules' days and
     * times are read. Default: UTC.
     */
    timeZone: z
      .string()
      .max(64)
      .refine(isTimeZone, 'must be an IANA time zone name such as Europe/Berlin or America/New_York')
      .default('UTC'),
    /** UDP port of the magic packets (9, "discard", is the usual one; some NICs listen on 7). */
    wolPort: Port.default(9),
    /**
     * Broadcast address the magic packets are sent to; null = the boot network's, computed from the
     * address and netmask of dhcp.iface (or network.bootAddr with dhcp.netmask).
     */
    wolBroadcast: Ipv4.nullable().default(null),
    /** Pace of magic packets (a room of 200 PCs at 20/s is woken in 10 s, gently for the switches and the power). */
    packetsPerSecond: z.number().int().min(1).max(1000).default(20),
    /**
     * A schedule slot missed while GGnet was down fires late when GGnet is back within this many
     * minutes; an older one is skipped (and logged in the audit log as power.schedule.missed).
     */
    lateGraceMin: z
      .number()
      .int()
      .min(0)
      .max(24 * 60)
      .default(15),
  }),
  sessions: z.object({
    /** A session with no iSCSI connection for this long ends as idle. */
    idleTimeoutSec: z
      .number()
      .int()
      .min(30)
      .max(7 * 86400)
      .default(900),
  }),
  // --- alerts (issue 14 point 5): space alerts, writeback limits, webhook, cleanup of old kept writebacks ---
  alerts: z.object({
    /** Seconds between two samples of the space measures (the alerts module's background check). */
    intervalSec: z.number().int().min(5).max(3600).default(60),
    /** Soft limit of the bytes one writeback may own, for machines without their own limit; null = none. */
    writebackLimitBytes: z.number().int().min(0).nullable().default(null),
    /** Soft limit of the bytes all live writebacks own together; null = none. */
    writebacksTotalLimitBytes: z.number().int().min(0).nullable().default(null),
    /** Soft limit of one image's bytes (its version files and its writebacks); null = none. */
    imageLimitBytes: z.number().int().min(0).nullable().default(null),
    /** Used space of the storage root's filesystem, in percent, above which `array.usage` is raised. */
    arrayUsedPercent: z.number().min(1).max(100).default(85),
    /** `array.reserve` is raised when free space is less than storage.reserveBytes plus this. */
    reserveWarnBytes: z
      .number()
      .int()
      .min(0)
      .default(20 * 1024 ** 3),
    /** An alert clears only once its measure is this many percent of the threshold back (no flapping). */
    hysteresisPercent: z.number().min(0).max(50).default(5),
    /** Where raised/cleared alerts are POSTed (JSON, signed); null = no webhook. http or https only. */
    webhookUrl: WebhookUrl.nullable().default(null),
    /**
     * Key of the HMAC-SHA256 signature of every webhook call. Write-only: the settings API answers
     * SECRET_MASK when it is set. null = unsigned calls are not sent (a webhook needs a secret).
     */
    webhookSecret: z.string().min(16).max(256).nullable().default(null),
    /** A webhook call that takes longer is abandoned (and retried). */
    webhookTimeoutSec: z.number().int().min(1).max(60).default(10),
    /** Kept writebacks unused for this many days are listed for cleanup. */
    cleanupAfterDays: z.number().int().min(1).max(3650).default(30),
    /** Discard the listed kept writebacks every hour (audited). Off unless an admin turns it on. */
    cleanupEnabled: z.boolean().default(false),
  }),
  // --- console VM (issue 15 point 3): a QEMU VM on the server editing an image's maintenance disk ---
  console: z.object({
    /** Memory of a console VM unless the start request asks for another amount (MiB). */
    memoryMiB: z
      .number()
      .int()
      .min(128)
      .max(1024 * 1024)
      .default(2048),
    /** Virtual CPUs of a console VM unless the start request asks for another number. */
    cpus: z.number().int().min(1).max(256).default(2),
    /** The most memory one console VM may have (MiB); a request above it is refused. */
    maxMemoryMiB: z
      .number()
      .int()
      .min(128)
      .max(1024 * 1024)
      .default(8192),
    /** The most CPUs one console VM may have. */
    maxCpus: z.number().int().min(1).max(256).default(4),
    /** auto: KVM when /dev/kvm can be opened, TCG (emulation, slower) otherwise. */
    accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
    /** none: no network card; user: QEMU's user-mode network (NAT through the server, e.g. for updates). */
    network: z.enum(['none', 'user']).default('none'),
    /**
     * What GGnet's own shutdown does to running console VMs: false (default) leaves them running for
     * the next GGnet to adopt (a restart keeps the VM, as tgtd keeps booted clients); true presses the
     * VM's power button (ACPI) and powers it off after `shutdownTimeoutSec`.
     */
    stopOnShutdown: z.boolean().default(false),
    shutdownTimeoutSec: z.number().int().min(1).max(600).default(20),
  }),
});
export type Settings = z.infer<typeof Settings>;
export type SettingsGroup = keyof Settings;

type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};
export type SettingsPatch = DeepPartial<Settings>;

const withoutDefaults = <S extends z.ZodRawShape>(obj: z.ZodObject<S>) =>
  z.strictObject(
    Object.fromEntries(
      Object.entries(obj.shape).map(([k, f]) => [
        k,
        ((f instanceof z.ZodDefault ? f.unwrap() : f) as z.ZodType).optional(),
      ]),
    ),
  );

/** A change to some settings: every group and key optional, unknown keys refused, no defaults filled in. */
export const SettingsPatch = z.strictObject(
  Object.fromEntries(
    Object.entries(Settings.shape).map(([g, obj]) => [g, withoutDefaults(obj as z.ZodObject).optional()]),
  ),
) as unknown as z.ZodType<SettingsPatch>;

export const SettingsResponse = z.object({
  settings: Settings,
  /** Dotted keys pinned by environment variables or the config file; the API refuses to change them. */
  locked: z.array(z.string()),
});
export type SettingsResponse = z.infer<typeof SettingsResponse>;

export const defaultSettings = (): Settings =>
  Settings.parse({
    network: {},
    dhcp: {},
    boot: {},
    storage: {},
    iscsi: {},
    machines: {},
    backup: {},
    power: {},
    sessions: {},
    alerts: {},
    console: {},
  });
