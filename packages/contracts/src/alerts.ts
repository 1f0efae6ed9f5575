import { z } from 'zod';
import { Id, ListQuery, Timestamp } from './common.js';

/**
 * Space alerts (issue 14 point 5). Each kind watches one measure against a threshold (settings
 * `alerts.*`); an alert is raised once when its measure crosses the threshold and cleared once when it
 * falls back past the hysteresis band, so a value hovering at the line does not flap.
 *
 * - `writeback.limit`: a writeback owns more bytes than its machine's soft limit (or the global one)
 * - `writebacks.total`: all live writebacks together own more than `alerts.writebacksTotalLimitBytes`
 * - `image.limit`: an image (its versions and its writebacks) takes more than `alerts.imageLimitBytes`
 * - `array.usage`: the storage root's filesystem is fuller than `alerts.arrayUsedPercent`
 * - `array.reserve`: free space is within `alerts.reserveWarnBytes` of the reserve (storage.reserveBytes),
 *   or below it (then new boots are refused: severity critical)
 */
export const ALERT_KINDS = [
  'writeback.limit',
  'writebacks.total',
  'image.limit',
  'array.usage',
  'array.reserve',
] as const;
export const AlertKind = z.enum(ALERT_KINDS);
export type AlertKind = z.infer<typeof AlertKind>;

export const ALERT_SEVERITIES = ['warning', 'critical'] as const;
export const AlertSeverity = z.enum(ALERT_SEVERITIES);
export type AlertSeverity = z.infer<typeof AlertSeverity>;

export const ALERT_STATES = ['raised', 'cleared'] as const;
export const AlertState = z.enum(ALERT_STATES);
export type AlertState = z.infer<typeof AlertState>;

export const Alert = z.object({
  id: Id,
  kind: AlertKind,
  severity: AlertSeverity,
  state: AlertState,
  /** What it is about: `writeback`, `image`, `array`. */
  subjectType: z.enum(['writeback', 'image', 'array']),
  subjectId: z.string(),
  /** Human name: machine name of a writeback, image name, the storage root. */
  subjectName: z.string().nullable(),
  /** Machine of a writeback alert. */
  machineId: Id.nullable(),
  /** The measure at the last sample (bytes, or percent for array.usage). */
  value: z.number(),
  threshold: z.number(),
  message: z.string(),
  raisedAt: Timestamp,
  updatedAt: Timestamp,
  clearedAt: Timestamp.nullable(),
  acknowledgedAt: Timestamp.nullable(),
  acknowledgedBy: z.string().nullable(),
});
export type Alert = z.infer<typeof Alert>;

export const AlertListQuery = ListQuery.extend({
  /** `raised` (default): the open ones; `cleared`: history; `all`. */
  state: z.enum(['raised', 'cleared', 'all']).default('raised'),
  kind: AlertKind.optional(),
});
export type AlertListQuery = z.infer<typeof AlertListQuery>;

/** Result of one check (POST /api/v1/alerts/check, and every alerts.intervalSec in the background). */
export const AlertCheckResult = z.object({
  at: Timestamp,
  raised: z.array(Alert),
  cleared: z.array(Alert),
  open: z.number().int(),
});
export type AlertCheckResult = z.infer<typeof AlertCheckResult>;

/** A per-machine soft limit of the bytes one of its writebacks may own. */
export const WritebackLimit = z.object({
  machineId: Id,
  machineName: z.string().nullable(),
  limitBytes: z.number().int().min(0),
  updatedAt: Timestamp,
  updatedBy: z.string().nullable(),
});
export type WritebackLimit = z.infer<typeof WritebackLimit>;

export const WritebackLimitBody = z.strictObject({
  /** Bytes a writeback of this machine may own before `writeback.limit` is raised. */
  limitBytes: z
    .number()
    .int()
    .min(1024 ** 2)
    .max(2 ** 50),
});
export type WritebackLimitBody = z.infer<typeof WritebackLimitBody>;

/** A kept writeback not used for `alerts.cleanupAfterDays`: a candidate for cleanup. */
export const CleanupCandidate = z.object({
  writebackId: Id,
  machineId: Id,
  machineName: z.string().nullable(),
  imageId: Id,
  imageName: z.string().nullable(),
  createdAt: Timestamp,
  /** End of its last session, else its creation. */
  lastUsedAt: Timestamp,
  ageDays: z.number(),
  usedBytes: z.number().nullable(),
});
export type CleanupCandidate = z.infer<typeof CleanupCandidate>;

export const CleanupList = z.object({
  olderThanDays: z.number().int(),
  /** The scheduled cleanup (alerts.cleanupEnabled) discards these every hour when on. */
  scheduleEnabled: z.boolean(),
  items: z.array(CleanupCandidate),
  totalBytes: z.number(),
});
export type CleanupList = z.infer<typeof CleanupList>;

export const CleanupResult = z.object({
  discarded: z.array(Id),
  failed: z.array(z.object({ writebackId: Id, error: z.string() })),
});
export type CleanupResult = z.infer<typeof CleanupResult>;

/**
 * The JSON body GGnet POSTs to `alerts.webhookUrl` (docs/admin-guide.md, "Alert webhook").
 * Headers: `X-GGnet-Event`, `X-GGnet-Delivery` (unique per notification), `X-GGnet-Timestamp` (Unix
 * seconds) and `X-GGnet-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
 */
export const WebhookPayload = z.object({
  event: z.enum(['alert.raised', 'alert.cleared', 'webhook.test']),
  deliveryId: z.string(),
  sentAt: Timestamp,
  server: z.string(),
  alert: Alert.nullable(),
});
export type WebhookPayload = z.infer<typeof WebhookPayload>;
