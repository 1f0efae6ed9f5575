import { z } from 'zod';
import { Id, Timestamp } from './common.js';
import { FreeText } from './names.js';
import { POWER_ACTIONS, SCHEDULE_DAYS, SCHEDULE_TIME_RE } from './plain.js';

// Power (issue 14 point 3): Wake-on-LAN for one machine, a selection or all, and schedules that
// wake machines at opening time and shut them down at closing time, in the site's time zone.

/** Which machines a wake (or a schedule) is for: a list, or every enabled, approved machine. */
export const WakeRequest = z.union([
  z.strictObject({ machineIds: z.array(Id).min(1).max(5000) }),
  z.strictObject({ all: z.literal(true) }),
]);
export type WakeRequest = z.infer<typeof WakeRequest>;

/** A machine a wake left out, and why (`pending`: not approved yet; `disabled`; `not_found`). */
export const WakeSkip = z.object({
  machineId: z.string(),
  reason: z.enum(['pending', 'disabled', 'not_found']),
});
export type WakeSkip = z.infer<typeof WakeSkip>;

/**
 * The answer of a wake: the magic packets are queued and sent paced (settings power.packetsPerSecond)
 * on the boot interface; each one sent is a `wake_sent` boot event in the machine's timeline.
 */
export const WakeResult = z.object({
  queued: z.number().int(),
  skipped: z.array(WakeSkip),
  /** Where the packets go: the boot network's broadcast address and port, from the boot interface's address. */
  broadcast: z.string(),
  port: z.number().int(),
  sourceAddress: z.string().nullable(),
  /** Seconds until the last packet of this request is sent, at the configured pace. */
  etaSec: z.number(),
});
export type WakeResult = z.infer<typeof WakeResult>;

export const PowerAction = z.enum(POWER_ACTIONS);
export type PowerAction = z.infer<typeof PowerAction>;
export const ScheduleDay = z.enum(SCHEDULE_DAYS);
export type ScheduleDay = z.infer<typeof ScheduleDay>;
export const ScheduleTime = z.string().regex(SCHEDULE_TIME_RE, 'must be a time of day HH:MM (00:00-23:59)');

/** A schedule's machines: every enabled, approved machine, a list, or a group's (enabled, approved) members. */
export const ScheduleTarget = z.union([
  z.strictObject({ all: z.literal(true) }),
  z.strictObject({ machineIds: z.array(Id).min(1).max(5000) }),
  z.strictObject({ groupId: Id }),
]);
export type ScheduleTarget = z.infer<typeof ScheduleTarget>;

const scheduleFields = {
  name: FreeText(80).min(1, 'a schedule needs a name'),
  enabled: z.boolean().default(true),
  action: PowerAction,
  /** Days of the week (in the site's time zone, settings power.timeZone). */
  days: z
    .array(ScheduleDay)
    .min(1, 'pick at least one day')
    .max(7)
    .refine((d) => new Set(d).size === d.length, 'each day once'),
  /** Times of day (HH:MM, site time zone); each day and time is one slot. */
  times: z
    .array(ScheduleTime)
    .min(1, 'give at least one time')
    .max(24)
    .refine((t) => new Set(t).size === t.length, 'each time once'),
  target: ScheduleTarget,
};

export const ScheduleCreate = z.strictObject(scheduleFields);
export type ScheduleCreate = z.input<typeof ScheduleCreate>;
export type ScheduleCreateData = z.infer<typeof ScheduleCreate>;

export const ScheduleUpdate = z.strictObject({
  name: scheduleFields.name.optional(),
  enabled: z.boolean().optional(),
  action: PowerAction.optional(),
  days: scheduleFields.days.optional(),
  times: scheduleFields.times.optional(),
  target: ScheduleTarget.optional(),
});
export type ScheduleUpdate = z.infer<typeof ScheduleUpdate>;

/** What the schedule did at its last slot. */
export const ScheduleRun = z.object({
  /** The slot (UTC) this run was for. */
  slot: Timestamp,
  /** When GGnet handled it. */
  at: Timestamp,
  /** fired: on time or late within power.lateGraceMin; missed: GGnet was down longer, skipped. */
  outcome: z.enum(['fired', 'missed']),
  lateSec: z.number().int(),
  /** wake: packets queued; shutdown: machines asked (none have an agent yet). */
  machines: z.number().int(),
  /** shutdown: machines that have no client agent to obey it (today: all of them). */
  noAgent: z.number().int(),
  skipped: z.number().int(),
  /** Why the run failed (no boot network to send magic packets to...), or null. */
  error: z.string().nullable(),
});
export type ScheduleRun = z.infer<typeof ScheduleRun>;

export const Schedule = z.object({
  id: Id,
  name: z.string(),
  enabled: z.boolean(),
  action: PowerAction,
  days: z.array(ScheduleDay),
  times: z.array(z.string()),
  target: ScheduleTarget,
  /** The next slot (UTC) in the site's time zone; null when disabled. */
  nextAt: Timestamp.nullable(),
  timeZone: z.string(),
  lastRun: ScheduleRun.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Schedule = z.infer<typeof Schedule>;

export const ScheduleList = z.object({ items: z.array(Schedule), timeZone: z.string() });
export type ScheduleList = z.infer<typeof ScheduleList>;
