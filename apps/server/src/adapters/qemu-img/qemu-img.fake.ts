import { open } from 'node:fs/promises';
import type { ConvertOptions, QemuImg, QemuImgCheck, QemuImgInfo } from './qemu-img.adapter.js';

/**
 * qemu-img for unit tests: `info` answers what was set per path, `convert` writes the bytes of
 * `content` (the pretend disk) into the requested window of dest and reports progress.
 */
export class FakeQemuImg implements QemuImg {
  readonly calls: string[] = [];
  infos = new Map<string, QemuImgInfo | Error>();
  checks = new Map<string, QemuImgCheck>();
  content: Buffer = Buffer.alloc(0);
  /** Called before each convert (throw to simulate a failure). */
  beforeConvert?: (o: ConvertOptions) => Promise<void> | void;

  static info(partial: Partial<QemuImgInfo> & { virtualSize: number }): QemuImgInfo {
    return {
      format: 'qcow2',
      actualSize: partial.virtualSize,
      backingFile: null,
      dataFile: null,
      extents: [],
      encrypted: false,
      snapshots: 0,
      dirty: false,
      ...partial,
    };
  }

  async info(path: string): Promise<QemuImgInfo> {
    this.calls.push(`info ${path}`);
    const i = this.infos.get(path);
    if (!i) throw new Error(`Could not open '${path}': fake has no info`);
    if (i instanceof Error) throw i;
    return i;
  }

  async check(path: string, format: string): Promise<QemuImgCheck> {
    this.calls.push(`check ${format} ${path}`);
    return (
      this.checks.get(path) ?? { supported: true, corruptions: 0, leaks: 0, checkErrors: 0, message: null }
    );
  }

  async convert(o: ConvertOptions): Promise<void> {
    this.calls.push(`convert ${o.format} ${o.window ? `${o.window.offset}+${o.window.length}` : 'all'}`);
    await this.beforeConvert?.(o);
    if (o.signal?.aborted) throw new Error('aborted');
    const { offset, length } = o.window ?? { offset: 0, length: this.content.length };
    o.onProgress?.(0);
    const fh = await open(o.dest, 'r+');
    try {
      const slice = this.content.subarray(offset, offset + length);
      if (slice.length) await fh.write(slice, 0, slice.length, offset);
    } finally {
      await fh.close();
    }
    o.onProgress?.(50);
    o.onProgress?.(100);
  }
}
