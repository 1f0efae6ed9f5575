import { z } from 'zod';
import { Id, ListQuery, Timestamp, sortBy } from './common.js';
import { FreeText } from './names.js';
import { Connection } from './targets.js';
import { Traffic } from './traffic.js';

export const SESSION_STATES = ['starting', 'ready', 'active', 'ended'] as const;
export const SessionState = z.enum(SESSION_STATES);
export type SessionState = z.infer<typeof SessionState>;

export const END_REASONS = ['rebooted', 'stopped', 'idle', 'error', 'replaced', 'applied'] as const;
export const EndReason = z.enum(END_REASONS);
export type EndReason = z.infer<typeof EndReason>;

export const SessionMode = z.enum(['normal', 'maintenance']);

export const Session = z.object({
  id: Id,
  machineId: Id,
  machineName: z.string().nullable(),
  imageId: Id.nullable(),
  versionId: Id.nullable(),
  targetId: Id.nullable(),
  writebackId: Id.nullable(),
  mode: SessionMode,
  state: SessionState,
  endReason: EndReason.nullable(),
  error: z.string().nullable(),
  clientIp: z.string().nullable(),
  startedAt: Timestamp,
  readyAt: Timestamp.nullable(),
  activeAt: Timestamp.nullable(),
  endedAt: Timestamp.nullable(),
  /** Initiators logged in to the session's target at the last check (the session monitor polls). */
  connections: z.array(Connection),
  /** Last time a logged-in initiator was seen; idle sessions end after sessions.idleTimeoutSec. */
  lastActivityAt: Timestamp.nullable(),
  /** Bytes read and written over iSCSI and the current rates; null until the monitor sampled it live. */
  traffic: Traffic.nullable(),
});
export type Session = z.infer<typeof Session>;

export const SESSION_SORT_FIELDS = ['startedAt', 'state', 'endedAt', 'machineName'] as const;
export const SessionListQuery = ListQuery.extend({
  /** Default: -startedAt (newest first). */
  sort: sortBy(SESSION_SORT_FIELDS),
  machineId: Id.optional(),
  /** Sessions of the machines of this group (now); `none` = machines in no group. */
  groupId: z.union([Id, z.literal('none')]).optional(),
  state: SessionState.optional(),
  /** `live` = every state but ended. */
  live: z.enum(['true', 'false']).optional(),
});
export type SessionListQuery = z.infer<typeof SessionListQuery>;

export const SessionStop = z.strictObject({
  /** Keep the writeback even when the machine does not have keep-writeback set. */
  keepWriteback: z.boolean().default(false),
});
export type SessionStop = z.input<typeof SessionStop>;

/** Start a session by hand (what the boot endpoint does when a machine boots), e.g. for scripts and tests. */
export const SessionStart = z.strictObject({
  machineId: Id,
  mode: SessionMode.default('normal'),
});
export type SessionStart = z.input<typeof SessionStart>;

export const BootLun = z.object({
  /** iSCSI LUN (tgt: the boot disk is LUN 1, LUN 0 is the controller; LIO: the boot disk is LUN 0). */
  lun: z.number().int(),
  kind: z.enum(['boot', 'extra']),
  imageId: Id,
  versionId: Id,
});

/** Everything an initiator (the iPXE script) needs to reach the session's disk. */
export const SessionStartResult = z.object({
  sessionId: Id,
  state: SessionState,
  targetIqn: z.string(),
  portalHost: z.string(),
  portalPort: z.number().int(),
  initiatorIqn: z.string(),
  luns: z.array(BootLun),
  chap: z.object({ username: z.string(), password: z.string() }),
  reverseChap: z.object({ username: z.string(), password: z.string() }).nullable(),
});
export type SessionStartResult = z.infer<typeof SessionStartResult>;

/**
 * Turns a writeback into a new version of its image. A session whose initiator is still logged in is
 * refused (shut the client down first) unless `force`: then a crash-consistent snapshot is taken and
 * the session keeps running.
 */
export const ApplyWriteback = z.strictObject({
  comment: FreeText(1000).min(1, 'a comment says what changed'),
  publish: z.boolean().default(false),
  force: z.boolean().default(false),
});
export type ApplyWriteback = z.input<typeof ApplyWriteback>;

export const BOOT_EVENT_KINDS = [
  'dhcp_discover',
  'dhcp_offer',
  'dhcp_request',
  'dhcp_ack',
  'tftp',
  'script',
  'iscsi_login',
  'iscsi_logout',
  'os_up',
  'error',
  /** A script request GGnet turned down (another address asked for a running machine's MAC...). */
  'refused',
  /** A Wake-on-LAN magic packet sent to the machine (detail: by, broadcast, port, scheduleId). */
  'wake_sent',
  /** A shutdown (schedule or API) that could not be sent (detail.reason: no_agent). */
  'shutdown_not_sent',
] as const;
export const BootEventKind = z.enum(BOOT_EVENT_KINDS);
export type BootEventKind = z.infer<typeof BootEventKind>;

export const BootEvent = z.object({
  id: z.number().int(),
  at: Timestamp,
  mac: z.string().nullable(),
  machineId: Id.nullable(),
  sessionId: Id.nullable(),
  kind: BootEventKind,
  detail: z.record(z.string(), z.unknown()),
});
export type BootEvent = z.infer<typeof BootEvent>;

/** `GET /sessions/{id}/timeline`: the boot events of one session, oldest first. */
export const SessionTimeline = z.object({ items: z.array(BootEvent) });
export type SessionTimeline = z.infer<typeof SessionTimeline>;
