import { isAbsolute } from 'node:path';
import { ProcessError, type ProcessRunner } from '../process/process-runner.adapter.js';
import { QemuProgressParser } from './qemu-img.progress.js';

/** What `qemu-img info --output=json` says about a file, reduced to what GGnet decides on. */
export interface QemuImgInfo {
  /** Detected by qemu-img from the content (never from the file name). */
  format: string;
  virtualSize: number;
  /** Bytes the file occupies on disk. */
  actualSize: number | null;
  /** Backing file named in the image (GGnet refuses those). */
  backingFile: string | null;
  /** External data file (qcow2 data-file), also refused. */
  dataFile: string | null;
  /** Files a VMDK descriptor points at (a monolithic VMDK points only at itself). */
  extents: string[];
  encrypted: boolean;
  /** Internal snapshots (qcow2): their data makes the file bigger than the disk. */
  snapshots: number;
  dirty: boolean;
}

export interface QemuImgCheck {
  /** False when the format has no consistency check (raw, vpc). */
  supported: boolean;
  corruptions: number;
  leaks: number;
  checkErrors: number;
  /** qemu-img's own words when something is wrong. */
  message: string | null;
}

export interface ConvertOptions {
  source: string;
  /** Format detected by info(); always passed explicitly so that qemu-img never probes again. */
  format: string;
  /** Output raw file. For a window it must already exist with the full virtual size (sparse). */
  dest: string;
  /** Converts only bytes [offset, offset+length) of the virtual disk into the same range of dest. */
  window?: { offset: number; length: number };
  /** Parallel requests (-m, 1..16) and out-of-order writes (-W). */
  coroutines?: number;
  outOfOrder?: boolean;
  signal?: AbortSignal;
  onProgress?: (percent: number) => void;
  timeoutMs?: number;
}

/** qemu-img, the one tool that reads VHDX/VHD/VMDK/QCOW2/VDI. */
export interface QemuImg {
  info(path: string, opts?: { signal?: AbortSignal }): Promise<QemuImgInfo>;
  check(path: string, format: string, opts?: { signal?: AbortSignal }): Promise<QemuImgCheck>;
  convert(opts: ConvertOptions): Promise<void>;
}

/** Formats that `qemu-img check` can verify. */
export const CHECKABLE_FORMATS = new Set(['qcow2', 'vdi', 'vhdx', 'vmdk']);

// Absolute, and nothing that qemu-img's filename or option syntax would interpret (':' protocols, ',').
const SAFE_PATH_RE = /^\/[A-Za-z0-9._/+@-]*$/;
const FORMAT_RE = /^[a-z0-9]{2,16}$/;

export function assertSafePath(path: string): void {
  if (!isAbsolute(path) || !SAFE_PATH_RE.test(path) || path.split('/').includes('..')) {
    throw new Error(
      `refusing to pass ${JSON.stringify(path)} to qemu-img: paths must be absolute and use only letters, digits and . _ / + @ -`,
    );
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v.length ? v : null);

/** Parses `qemu-img info --output=json`; throws when the output is not what qemu-img prints. */
export function parseInfo(json: string): QemuImgInfo {
  const raw = JSON.parse(json) as Record<string, unknown>;
  const format = str(raw.format);
  const virtualSize = num(raw['virtual-size']);
  if (!format || virtualSize === null) throw new Error('qemu-img info printed no format or virtual size');
  const specific = (raw['format-specific'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  const extents = Array.isArray(specific.extents)
    ? (specific.extents as Array<Record<string, unknown>>).map((e) => str(e.filename) ?? '')
    : [];
  return {
    format,
    virtualSize,
    actualSize: num(raw['actual-size']),
    backingFile: str(raw['backing-filename']) ?? str(raw['full-backing-filename']),
    dataFile: str(specific['data-file']),
    extents,
    encrypted: raw.encrypted === true,
    snapshots: Array.isArray(raw.snapshots) ? raw.snapshots.length : 0,
    dirty: raw['dirty-flag'] === true,
  };
}

/** `key=value` for -o / --image-opts, commas doubled as qemu's option syntax wants. */
const opt = (k: string, v: string | number) => `${k}=${String(v).replaceAll(',', ',,')}`;

/** The argument list of one conversion (exported for the adapter's unit tests). */
export function convertArgs(o: ConvertOptions): string[] {
  assertSafePath(o.source);
  assertSafePath(o.dest);
  if (!FORMAT_RE.test(o.format)) throw new Error(`invalid image format ${JSON.stringify(o.format)}`);
  const m = Math.min(16, Math.max(1, Math.floor(o.coroutines ?? 16)));
  const tuning = ['-m', String(m), ...(o.outOfOrder === false ? [] : ['-W'])];
  if (!o.window) {
    return ['convert', '-p', ...tuning, '-f', o.format, '-O', 'raw', o.source, o.dest];
  }
  const { offset, length } = o.window;
  if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length > 0)) {
    throw new Error(`invalid conversion window ${offset}+${length}`);
  }
  // A raw node with offset/size over the source format node exposes one window of the virtual disk;
  // the same over the output file writes it in place. -n: dest exists; --target-is-zero: it is a
  // fresh sparse file, so zero areas are skipped and stay holes.
  const src =
    o.format === 'raw'
      ? [opt('driver', 'raw'), opt('offset', offset), opt('size', length), opt('file.driver', 'file')]
      : [
          opt('driver', 'raw'),
          opt('offset', offset),
          opt('size', length),
          opt('file.driver', o.format),
          opt('file.file.driver', 'file'),
        ];
  src.push(opt(o.format === 'raw' ? 'file.filename' : 'file.file.filename', o.source));
  const dst = [
    opt('driver', 'raw'),
    opt('offset', offset),
    opt('size', length),
    opt('file.driver', 'file'),
    opt('file.filename', o.dest),
  ];
  return [
    'convert',
    '-p',
    ...tuning,
    '-n',
    '--target-is-zero',
    '--image-opts',
    src.join(','),
    '--target-image-opts',
    dst.join(','),
  ];
}

/** The last meaningful line qemu-img printed on stderr (its error message). */
export function qemuMessage(err: unknown): string {
  if (err instanceof ProcessError) {
    const lines = err.stderr
      .split(/[\r\n]+/)
      .map((l) => l.replace(/^qemu-img:\s*/, '').trim())
      .filter(Boolean);
    if (err.reason === 'aborted') return 'qemu-img was stopped (cancelled)';
    if (err.reason === 'timeout') return 'qemu-img timed out';
    if (err.reason === 'spawn') return err.message;
    return lines.at(-1) ?? `qemu-img exited with code ${err.exitCode}`;
  }
  return (err as Error)?.message ?? String(err);
}

/** The real adapter: qemu-img through the process runner. */
export class RealQemuImg implements QemuImg {
  constructor(
    private readonly runner: ProcessRunner,
    private readonly opts: { binary?: string; dieWithParent?: boolean } = {},
  ) {}

  private get bin() {
    return this.opts.binary ?? 'qemu-img';
  }

  async info(path: string, o: { signal?: AbortSignal } = {}): Promise<QemuImgInfo> {
    assertSafePath(path);
    const r = await this.runner.run(this.bin, ['info', '--output=json', path], {
      signal: o.signal,
      timeoutMs: 60_000,
    });
    return parseInfo(r.stdout);
  }

  async check(path: string, format: string, o: { signal?: AbortSignal } = {}): Promise<QemuImgCheck> {
    assertSafePath(path);
    if (!FORMAT_RE.test(format)) throw new Error(`invalid image format ${JSON.stringify(format)}`);
    if (!CHECKABLE_FORMATS.has(format)) {
      return { supported: false, corruptions: 0, leaks: 0, checkErrors: 0, message: null };
    }
    // exit codes: 0 clean, 1 check failed, 2 corruptions, 3 leaks only (harmless), 63 not supported
    const r = await this.runner.run(this.bin, ['check', '--output=json', '-f', format, path], {
      signal: o.signal,
      timeoutMs: 30 * 60_000,
      okExitCodes: [0, 1, 2, 3, 63],
    });
    if (r.exitCode === 63)
      return { supported: false, corruptions: 0, leaks: 0, checkErrors: 0, message: null };
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      /* exit 1 may print no JSON */
    }
    const stderr = r.stderr
      .split(/[\r\n]+/)
      .map((l) => l.replace(/^qemu-img:\s*/, '').trim())
      .filter(Boolean);
    const corruptions = num(parsed.corruptions) ?? (r.exitCode === 2 ? 1 : 0);
    const checkErrors = num(parsed['check-errors']) ?? (r.exitCode === 1 ? 1 : 0);
    return {
      supported: true,
      corruptions,
      leaks: num(parsed.leaks) ?? 0,
      checkErrors,
      message:
        corruptions || checkErrors ? (stderr[0] ?? `qemu-img check exited with code ${r.exitCode}`) : null,
    };
  }

  async convert(o: ConvertOptions): Promise<void> {
    const args = convertArgs(o);
    const parser = new QemuProgressParser((p) => o.onProgress?.(p));
    // setpriv --pdeathsig: qemu-img dies with the worker (kill -9 included) instead of writing on as an orphan
    const [cmd, argv] = this.opts.dieWithParent
      ? ['setpriv', ['--pdeathsig', 'KILL', '--', this.bin, ...args]]
      : [this.bin, args];
    await this.runner.run(cmd, argv, {
      signal: o.signal,
      timeoutMs: o.timeoutMs,
      killGraceMs: 2000,
      onStdout: (c) => parser.push(c),
      maxBuffer: 64 * 1024,
    });
  }
}
