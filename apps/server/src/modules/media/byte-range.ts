/** One byte range of a file, both ends inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The `Range` header of a GET for a file of `size` bytes (RFC 9110 14.1.2), for the one range iPXE
 * and other clients ask for at a time:
 *   undefined      no Range header (or one we do not serve as ranges, e.g. several ranges): whole file
 *   ByteRange      `bytes=a-b`, `bytes=a-` or the last n bytes `bytes=-n`, clamped to the file
 *   'unsatisfiable'  a syntactically valid range that starts at or past the end (answer 416)
 * A header that is not a bytes range at all is ignored (the whole file), as the RFC says.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
