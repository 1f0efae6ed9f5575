import { describe, expect, it } from 'vitest';
import { nextSlot, offsetAt, previousSlot, wallTime, zonedToUtc } from './schedule-time.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const at = (s: string) => Date.parse(s);

describe('zonedToUtc (Europe/Berlin)', () => {
  const Z = 'Europe/Berlin';
  it('reads a plain winter and summer time with their offsets', () => {
    expect(iso(zonedToUtc(Z, 2026, 1, 15, 9, 0))).toBe('2026-01-15T08:00:00.000Z');
    expect(iso(zonedToUtc(Z, 2026, 7, 15, 9, 0))).toBe('2026-07-15T07:00:00.000Z');
    expect(offsetAt(Z, at('2026-07-15T07:00:00Z'))).toBe(2 * 3600_000);
  });
  it('shifts a time in the spring-forward gap forward by the gap (02:30 -> 03:30 CEST)', () => {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST
    const t = zonedToUtc(Z, 2026, 3, 29, 2, 30);
    expect(iso(t)).toBe('2026-03-29T01:30:00.000Z');
    expect(wallTime(Z, t)).toMatchObject({ hour: 3, minute: 30 });
  });
  it('takes the first of a time that happens twice (fall back, 02:30 CEST not CET)', () => {
    // 2026-10-25: 03:00 CEST goes back to 02:00 CET
    expect(iso(zonedToUtc(Z, 2026, 10, 25, 2, 30))).toBe('2026-10-25T00:30:00.000Z');
  });
});

describe('next and previous slots across DST', () => {
  it('a daily 09:00 slot in New York moves from 14:00Z to 13:00Z over the March change', () => {
    const spec = {
      days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const,
      times: ['09:00'],
      zone: 'America/New_York',
    };
    // 2026-03-08: DST starts in the US
    expect(iso(nextSlot(spec, at('2026-03-07T12:00:00Z')))).toBe('2026-03-07T14:00:00.000Z');
    expect(iso(nextSlot(spec, at('2026-03-07T14:00:00Z')))).toBe('2026-03-08T13:00:00.000Z');
    expect(iso(previousSlot(spec, at('2026-03-08T12:59:59Z')))).toBe('2026-03-07T14:00:00.000Z');
    expect(iso(previousSlot(spec, at('2026-03-08T13:00:00Z')))).toBe('2026-03-08T13:00:00.000Z');
  });
  it('fires once in the fall-back overlap and once in the spring gap (Europe/Berlin 02:30 daily)', () => {
    const spec = {
      days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const,
      times: ['02:30'],
      zone: 'Europe/Berlin',
    };
    const slots: string[] = [];
    let t = at('2026-10-24T00:00:00Z');
    for (let i = 0; i < 3; i++) {
      t = nextSlot(spec, t)!;
      slots.push(iso(t)!);
    }
    expect(slots).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
    const spring: string[] = [];
    t = at('2026-03-28T00:00:00Z');
    for (let i = 0; i < 3; i++) {
      t = nextSlot(spec, t)!;
      spring.push(iso(t)!);
    }
    expect(spring).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:30:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
  });
  it('keeps to the given weekdays in the zone, not in UTC', () => {
    // Mon-Fri 08:00 in Tokyo (UTC+9): Monday 08:00 JST is Sunday 23:00 UTC
    const spec = {
      days: ['mon', 'tue', 'wed', 'thu', 'fri'] as const,
      times: ['08:00', '22:30'],
      zone: 'Asia/Tokyo',
    };
    // Saturday 2026-12-05 12:00Z = Saturday 21:00 JST -> next: Monday 2026-12-07 08:00 JST
    expect(iso(nextSlot(spec, at('2026-12-05T12:00:00Z')))).toBe('2026-12-06T23:00:00.000Z');
    // Friday 22:30 JST is the newest slot on Sunday
    expect(iso(previousSlot(spec, at('2026-12-06T12:00:00Z')))).toBe('2026-12-04T13:30:00.000Z');
  });
  it('has no slot without days or times', () => {
    expect(nextSlot({ days: [], times: ['09:00'], zone: 'UTC' }, Date.now())).toBeNull();
    expect(previousSlot({ days: ['mon'], times: [], zone: 'UTC' }, Date.now())).toBeNull();
  });
});
