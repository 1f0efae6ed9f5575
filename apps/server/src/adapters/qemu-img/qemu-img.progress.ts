/**
 * Parses `qemu-img convert -p` output: progress lines such as `    (12.34/100%)` separated by
 * carriage returns (a terminal redraws the same line), arriving in arbitrary chunks. Feed it the
 * raw stdout chunks; it calls back with each new percentage (monotonic, 0..100).
 */
export class QemuProgressParser {
  private buffer = '';
  private last = -1;

  constructor(private readonly onPercent: (percent: number) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    const parts = this.buffer.split(/[\r\n]/);
    // the last part may be an unfinished line: keep it for the next chunk
    this.buffer = parts.pop() ?? '';
    for (const p of parts) this.line(p);
    // a complete "(x/100%)" at the end of the buffer need not wait for its \r
    if (/\(\s*\d+(?:\.\d+)?\/100%\)\s*$/.test(this.buffer)) {
      this.line(this.buffer);
      this.buffer = '';
    }
  }

  private line(text: string): void {
    const re = /\(\s*(\d+(?:\.\d+)?)\/100%\)/g;
    let m: RegExpExecArray | null;
    let value: number | null = null;
    while ((m = re.exec(text))) value = Number(m[1]);
    if (value === null || !Number.isFinite(value)) return;
    value = Math.min(100, Math.max(0, value));
    if (value > this.last) {
      this.last = value;
      this.onPercent(value);
    }
  }
}

export function parseProgressText(text: string): number[] {
  const out: number[] = [];
  const p = new QemuProgressParser((v) => out.push(v));
  p.push(text);
  return out;
}
