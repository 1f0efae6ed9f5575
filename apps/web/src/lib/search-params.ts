/** Parsers for URL search parameters, which arrive as anything (strings, numbers, booleans). */

/** A non-empty string, else undefined. */
export const searchString = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** A positive whole number (also from its string form), else undefined. */
export const searchPositiveInt = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
};

/** true for `true` or `'true'`, else undefined (the parameter is left out). */
export const searchFlag = (v: unknown): true | undefined => (v === true || v === 'true' ? true : undefined);
