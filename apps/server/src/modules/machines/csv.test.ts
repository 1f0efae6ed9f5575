import { describe, expect, it } from 'vitest';
import { parseCsvLine } from './machines.service.js';

describe('parseCsvLine', () => {
  it('splits plain and quoted fields', () => {
    expect(parseCsvLine('a,b,c')).toEqual(['a', 'b', 'c']);
    expect(parseCsvLine('"a,b","say ""hi""",')).toEqual(['a,b', 'say "hi"', '']);
    expect(parseCsvLine('')).toEqual(['']);
  });
});
