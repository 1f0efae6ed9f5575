import { writeFile } from 'node:fs/promises';
import type { OverlayExport, QemuStorageDaemon, QsdNodeStats, QsdStatus } from './qsd.adapter.js';

/**
 * In-memory qemu-storage-daemon for small tests: keeps the exports it was asked for, makes the
 * mount point file (as the real export mounts over one), and can "crash" (every export lost, mounts
 * left dead) to exercise the reconciler's re-export.
 */
export class FakeQemuStorageDaemon implements QemuStorageDaemon {
  readonly served = new Map<string, OverlayExport>();
  readonly mounted = new Set<string>();
  readonly calls: string[] = [];
  running = false;
  restarts = 0;
  readBytes = new Map<string, number>();
  private readonly restartFns: Array<() => void> = [];

  async ensureRunning(): Promise<void> {
    this.running = true;
  }

  async exportOverlay(o: OverlayExport): Promise<void> {
    this.running = true;
    if (this.served.has(o.id)) return;
    this.calls.push(`export ${o.id}`);
    if (this.mounted.has(o.mountpoint)) throw new Error(`${o.mountpoint}: dead mount still there`);
    await writeFile(o.mountpoint, '', { flag: 'a' });
    this.served.set(o.id, o);
    this.mounted.add(o.mountpoint);
  }

  async unexport(id: string, mountpoint: string): Promise<void> {
    this.calls.push(`unexport ${id}`);
    this.served.delete(id);
    this.mounted.delete(mountpoint);
  }

  async exports(): Promise<string[]> {
    return [...this.served.keys()];
  }

  async mounts(dir: string): Promise<string[]> {
    return [...this.mounted].filter((m) => m.startsWith(`${dir}/`));
  }

  async unmount(path: string): Promise<void> {
    this.calls.push(`unmount ${path}`);
    this.mounted.delete(path);
  }

  async stats(): Promise<QsdNodeStats[]> {
    const masters = new Set([...this.served.values()].map((o) => o.masterPath));
    return [
      ...[...this.served.keys()].map((id) => ({
        overlayId: id,
        masterPath: null,
        rdBytes: this.readBytes.get(id) ?? 0,
        wrBytes: 0,
      })),
      ...[...masters].map((m) => ({ overlayId: null, masterPath: m, rdBytes: 0, wrBytes: 0 })),
    ];
  }

  status(): QsdStatus {
    return {
      state: this.running ? 'running' : 'not-started',
      pid: null,
      adopted: false,
      restarts: this.restarts,
      diskReadBytes: null,
    };
  }

  onRestart(fn: () => void): void {
    this.restartFns.push(fn);
  }

  /** The daemon died and was started again: exports gone, their FUSE mounts dead. */
  crash(): void {
    this.served.clear();
    this.restarts++;
    for (const f of this.restartFns) f();
  }

  async stop(): Promise<void> {
    this.running = false;
  }
}
