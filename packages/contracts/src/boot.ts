import { z } from 'zod';
import { Id, Timestamp } from './common.js';
import { BootEventKind } from './sessions.js';
import { ISCSI_DAEMON_STATES } from './storage.js';

/**
 * `GET /boot/ipxe?mac=${netX/mac}&arch=${buildarch}&platform=${platform}`: what iPXE sends.
 * Everything is optional so that a bare `/boot/ipxe` (the URL an external DHCP server hands out)
 * answers with a script that asks again with these values filled in.
 */
export const BootScriptQuery = z.object({
  mac: z.string().max(40).optional(),
  /** iPXE `${buildarch}`: i386 (BIOS iPXE), x86_64, arm32, arm64. */
  arch: z
    .string()
    .regex(/^[a-z0-9_]{1,16}$/, 'must be an iPXE buildarch such as x86_64')
    .optional(),
  /** iPXE `${platform}`: pcbios or efi. */
  platform: z
    .string()
    .regex(/^[a-z0-9_-]{1,16}$/, 'must be an iPXE platform such as pcbios or efi')
    .optional(),
  /** Choice from the boot menu (only honoured when the boot menu is enabled). */
  mode: z.enum(['normal', 'maintenance', 'local']).optional(),
  /** Maintenance PIN typed at the PC (with mode=maintenance); checked, rate-limited and audited. */
  pin: z.string().max(64).optional(),
});
export type BootScriptQuery = z.infer<typeof BootScriptQuery>;

/** `POST /boot/ready`: the client OS says it is up. The MAC is optional; the caller's IP must own a live session. */
export const BootReadyRequest = z
  .strictObject({
    mac: z.string().max(40).optional(),
  })
  .nullish();
export type BootReadyRequest = z.infer<typeof BootReadyRequest>;

export const BootReadyResponse = z.object({
  sessionId: Id,
  /** False when this session had already reported "OS up" (the call is idempotent). */
  recorded: z.boolean(),
});

export const DHCP_SNIPPET_FORMATS = ['isc', 'kea', 'dnsmasq', 'router'] as const;
export const DhcpSnippetFormat = z.enum(DHCP_SNIPPET_FORMATS);
export type DhcpSnippetFormat = z.infer<typeof DhcpSnippetFormat>;

export const DhcpSnippetQuery = z.object({ format: DhcpSnippetFormat.default('isc') });

export const DhcpSnippet = z.object({
  format: DhcpSnippetFormat,
  /** Address clients use for TFTP (next-server), HTTP and iSCSI. */
  bootAddr: z.string(),
  /** URL of the boot script for clients that already run iPXE. */
  scriptUrl: z.string(),
  biosFile: z.string(),
  efiFile: z.string(),
  /** Configuration text to paste into that DHCP server (or steps, for `router`). */
  text: z.string(),
});
export type DhcpSnippet = z.infer<typeof DhcpSnippet>;

export const DAEMON_STATES = ['off', ...ISCSI_DAEMON_STATES] as const;

export const DhcpStatus = z.object({
  mode: z.enum(['off', 'dhcp', 'proxy']),
  /** dnsmasq runs DHCP (dhcp/proxy) and TFTP; in `off` mode it runs for TFTP only once a boot address is known. */
  daemon: z.enum(DAEMON_STATES),
  pid: z.number().int().nullable(),
  restarts: z.number().int(),
  tftp: z.boolean(),
  iface: z.string().nullable(),
  bootAddr: z.string().nullable(),
  scriptUrl: z.string().nullable(),
  /** Why dnsmasq is not running, or its last start error. */
  problem: z.string().nullable(),
  lastEventAt: Timestamp.nullable(),
});
export type DhcpStatus = z.infer<typeof DhcpStatus>;

export const BootStatsQuery = z.object({
  /** Boots started at or after this time (default: the last 7 days). */
  since: z.iso.datetime({ offset: true }).optional(),
  imageId: Id.optional(),
  /** How many slowest machines to list. */
  top: z.coerce.number().int().min(1).max(100).default(10),
});
export type BootStatsQuery = z.infer<typeof BootStatsQuery>;

export const BOOT_PHASES = ['dhcp', 'tftp', 'script', 'iscsi', 'os'] as const;
export type BootPhase = (typeof BOOT_PHASES)[number];

const Ms = z.number().int().nullable();
const PhaseMs = z.object({ dhcp: Ms, tftp: Ms, script: Ms, iscsi: Ms, os: Ms });

export const BootStats = z.object({
  since: Timestamp,
  /** Sessions in the window, and how many of them reached "OS up" (those make the figures). */
  sessions: z.number().int(),
  completed: z.number().int(),
  p50Ms: Ms,
  p95Ms: Ms,
  /** Median duration of each phase: DHCP, TFTP, until the script, until the iSCSI login, until OS up. */
  phasesP50Ms: PhaseMs,
  images: z.array(
    z.object({
      imageId: Id.nullable(),
      imageName: z.string().nullable(),
      boots: z.number().int(),
      p50Ms: Ms,
      p95Ms: Ms,
      phasesP50Ms: PhaseMs,
    }),
  ),
  slowestMachines: z.array(
    z.object({
      machineId: Id,
      machineName: z.string().nullable(),
      boots: z.number().int(),
      p50Ms: Ms,
      maxMs: Ms,
    }),
  ),
});
export type BootStats = z.infer<typeof BootStats>;

/** Recent DHCP/TFTP/script/iSCSI/OS events, newest first (also of unknown and pending clients). */
export const BootEventListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  mac: z.string().max(40).optional(),
  machineId: Id.optional(),
  sessionId: Id.optional(),
  kind: BootEventKind.optional(),
  since: z.iso.datetime({ offset: true }).optional(),
});
export type BootEventListQuery = z.infer<typeof BootEventListQuery>;

/** `PUT /api/v1/boot/maintenance/pin`: the PIN that unlocks maintenance from the boot menu (stored hashed). */
export const MaintenancePinSet = z.strictObject({
  pin: z
    .string()
    .regex(/^\d{4,12}$/, 'must be 4 to 12 digits (at least 6 recommended: the boot network is not trusted)'),
});
export type MaintenancePinSet = z.infer<typeof MaintenancePinSet>;

export const MAINTENANCE_REQUEST_STATES = ['pending', 'approved', 'denied'] as const;

/** A PC asked for maintenance from its boot menu and waits for an operator (boot.maintenanceApproval). */
export const MaintenanceRequest = z.object({
  id: Id,
  machineId: Id,
  machineName: z.string(),
  mac: z.string(),
  /** Address the request came from; only that address gets the maintenance boot. */
  ip: z.string(),
  requestedAt: Timestamp,
  /** The waiting PC asks every few seconds; a request it stopped asking for goes away. */
  lastSeenAt: Timestamp,
  state: z.enum(MAINTENANCE_REQUEST_STATES),
  decidedBy: z.string().nullable(),
  decidedAt: Timestamp.nullable(),
});
export type MaintenanceRequest = z.infer<typeof MaintenanceRequest>;

/** `GET /api/v1/boot/maintenance`: how maintenance from the boot menu is unlocked, and who waits. */
export const MaintenanceAccess = z.object({
  /** A maintenance PIN is set (the PIN itself is never shown). */
  pinSet: z.boolean(),
  /** boot.maintenanceApproval */
  approval: z.boolean(),
  /** The boot menu offers maintenance (a PIN is set or approval is on). */
  offered: z.boolean(),
  requests: z.array(MaintenanceRequest),
});
export type MaintenanceAccess = z.infer<typeof MaintenanceAccess>;
