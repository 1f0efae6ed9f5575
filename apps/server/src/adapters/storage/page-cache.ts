import type { ProcessRunner } from '../process/process-runner.adapter.js';

/**
 * Bytes of files held in the page cache, by `fincore` (util-linux; mincore(2) over a mapping of each
 * file, nothing is read). Never give it a FUSE export file: opening one drops its page cache.
 */
export class PageCache {
  constructor(private readonly runner: ProcessRunner) {}

  /** Resident bytes per path; a file fincore cannot read is left out. */
  async resident(paths: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (let i = 0; i < paths.length; i += 64) {
      const batch = paths.slice(i, i + 64);
      for (const p of batch)
        if (!p.startsWith('/') || p.includes('\n')) throw new Error(`invalid path for fincore: ${p}`);
      const r = await this.runner.run(
        'fincore',
        ['--bytes', '--noheadings', '--raw', '--output', 'RES,FILE', '--', ...batch],
        // exit 1 when one of the files is gone meanwhile: the others are still reported
        { timeoutMs: 60_000, okExitCodes: [0, 1] },
      );
      for (const [res, file] of parseFincore(r.stdout)) out.set(file, res);
    }
    return out;
  }
}

/** `fincore --raw --bytes --output RES,FILE` lines: `<bytes> <path>` (the path may hold spaces, escaped). */
export function parseFincore(text: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line.trim());
    if (m)
      out.push([
        Number(m[1]),
        m[2]!.replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
      ]);
  }
  return out;
}
