import { SCHEDULE_DAYS, type ScheduleDay } from '@ggnet/contracts';

/**
 * Wall-clock times in a named time zone (IANA, through Intl; no library), for power schedules.
 *
 * A slot is a day of the week and a time of day in the site's zone. Across daylight-saving changes
 * a slot is read the way Temporal's "compatible" disambiguation does:
 * - a time that does not exist that day (the spring-forward gap, e.g. 02:30 in Europe/Berlin on the
 *   last Sunday of March) fires once, shifted forward by the gap (03:30 local);
 * - a time that exists twice (the fall-back overlap, 02:30 on the last Sunday of October) fires
 *   once, at its first occurrence (the earlier offset).
 */

const HOUR = 3600_000;
const DAY = 24 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock time in `zone` at an instant. */
export function wallTime(zone: string, instant: number): WallTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(instant))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour! % 24,
    minute: parts.minute!,
    second: parts.second!,
  };
}

const wallAsUtc = (w: WallTime) => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);

/** The zone's offset from UTC at an instant, in ms (Europe/Berlin in summer: +2 h). */
export function offsetAt(zone: string, instant: number): number {
  const whole = Math.floor(instant / 1000) * 1000;
  return wallAsUtc(wallTime(zone, whole)) - whole;
}

/** The instant of a wall-clock time in `zone` (gap: shifted forward; overlap: the earlier one). */
export function zonedToUtc(
  zone: string,
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  // the offsets in force a day before and a day after: every zone changes at most once in between
  const before = offsetAt(zone, wall - DAY);
  const after = offsetAt(zone, wall + DAY);
  const hits = [...new Set([before, after])]
    .map((o) => wall - o)
    .filter((t) => wallAsUtc(wallTime(zone, t)) === wall);
  if (hits.length) return Math.min(...hits);
  // a gap: the offset before the change puts the time as far past the change as it was meant
  return wall - before;
}

const DAY_INDEX: Record<ScheduleDay, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
export const dayName = (utcDay: number): ScheduleDay =>
  SCHEDULE_DAYS.find((d) => DAY_INDEX[d] === utcDay) as ScheduleDay;

export interface SlotSpec {
  days: readonly ScheduleDay[];
  /** HH:MM */
  times: readonly string[];
  zone: string;
}

/** Every slot of the local dates from `from` (a wall date) for `count` days, in order. */
function slotsAround(spec: SlotSpec, instant: number, fromDay: number, toDay: number): number[] {
  const today = wallTime(spec.zone, instant);
  const days = new Set(spec.days.map((d) => DAY_INDEX[d]));
  const out: number[] = [];
  for (let k = fromDay; k <= toDay; k++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + k));
    if (!days.has(date.getUTCDay())) continue;
    for (const t of spec.times) {
      const [h, m] = t.split(':').map(Number) as [number, number];
      out.push(zonedToUtc(spec.zone, date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), h, m));
    }
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** The newest slot at or before `now`, or null when none in the last 8 days (no days/times). */
export function previousSlot(spec: SlotSpec, now: number): number | null {
  const past = slotsAround(spec, now, -8, 1).filter((t) => t <= now);
  return past.length ? past[past.length - 1]! : null;
}

/** The first slot strictly after `after`, or null when the schedule has no slot. */
export function nextSlot(spec: SlotSpec, after: number): number | null {
  const next = slotsAround(spec, after, -1, 8).find((t) => t > after);
  return next ?? null;
}
