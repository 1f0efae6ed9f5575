import { describe, expect, it } from 'vitest';
import { parseRange } from './byte-range.js';

describe('parseRange', () => {
  const size = 1000;
  it('serves the whole file without a usable Range header', () => {
    expect(parseRange(undefined, size)).toBeUndefined();
    expect(parseRange('items=0-1', size)).toBeUndefined();
    expect(parseRange('bytes=0-1,5-9', size)).toBeUndefined();
    expect(parseRange('bytes=-', size)).toBeUndefined();
    expect(parseRange('bytes=9-3', size)).toBeUndefined();
  });
  it('first byte, a middle range, an open end, the last bytes', () => {
    expect(parseRange('bytes=0-0', size)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=100-199', size)).toEqual({ start: 100, end: 199 });
    expect(parseRange('bytes=900-', size)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=-1', size)).toEqual({ start: 999, end: 999 });
    expect(parseRange('bytes=-5000', size)).toEqual({ start: 0, end: 999 });
    expect(parseRange('bytes=990-5000', size)).toEqual({ start: 990, end: 999 });
  });
  it('a range past the end is unsatisfiable (416)', () => {
    expect(parseRange('bytes=1000-', size)).toBe('unsatisfiable');
    expect(parseRange('bytes=5000-6000', size)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', size)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
  });
});
