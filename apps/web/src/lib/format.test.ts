import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatRate, formatSeconds, secondsBetween } from './format';

describe('formatBytes (the one byte formatter of console, API messages and CLI)', () => {
  it('picks the binary unit and keeps one decimal below 100 of it', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(8 * 1024 ** 2)).toBe('8.0 MiB');
    expect(formatBytes(10 * 1024 ** 3)).toBe('10.0 GiB');
    expect(formatBytes(150 * 1024 ** 3)).toBe('150 GiB');
    expect(formatBytes(15 * 1024 ** 4)).toBe('15.0 TiB');
    expect(formatBytes(3 * 1024 ** 6)).toBe('3072 PiB');
  });
  it('takes other precisions, negative numbers, and says — for no value', () => {
    expect(formatBytes(1.25 * 1024 ** 3, 2)).toBe('1.25 GiB');
    expect(formatBytes(-1536)).toBe('-1.5 KiB');
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(undefined)).toBe('—');
    expect(formatBytes(Number.NaN)).toBe('—');
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe('—');
  });
  it('rates per second, — for none', () => {
    expect(formatRate(50 * 1024 ** 2)).toBe('50.0 MiB/s');
    expect(formatRate(0)).toBe('—');
    expect(formatRate(null)).toBe('—');
  });
});

describe('durations', () => {
  it('seconds, minutes, hours, days; one decimal for short spans', () => {
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(7620)).toBe('2 h 07 min');
    expect(formatDuration(90000)).toBe('1 d 1 h');
    expect(formatDuration(-1)).toBe('—');
    expect(formatSeconds(12.34)).toBe('12.3 s');
    expect(formatSeconds(125)).toBe('2 min 05 s');
    expect(secondsBetween('2026-11-25T10:00:00Z', '2026-11-25T10:00:42Z')).toBe(42);
    // a start after the end (clocks) is no negative duration
    expect(secondsBetween('2026-11-25T10:00:42Z', Date.parse('2026-11-25T10:00:00Z'))).toBe(0);
    expect(secondsBetween(null, 0)).toBeNull();
  });
});
