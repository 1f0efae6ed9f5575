import { writeFile } from 'node:fs/promises';
import type { OverlayExport, QemuStorageDaemon, QemuVersion, QsdStatus } from './qsd.adapter.js';

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
  /** As the daemon of ggnet-storage.service (tests set it). */
  external = false;
  restarts = 0;
  /** What /proc/PID/io would say (tests set them). */
  io = { readBytes: 0, diskReadBytes: 0 };
  private readonly restartFns: Array<() => void> = [];
  /** What query-version would answer (Debian 12's QEMU unless a test sets another). */
  qemu: QemuVersion = { major: 7, minor: 2, micro: 22 };

  async version(): Promise<QemuVersion | null> {
    return this.qemu;
  }

  async ensureRunning(): Promise<void> {
    this.running = true;
  }

  async exportOverlay(o: OverlayExport): Promise<void> {
    this.running = true;
    if (this.served.has(o.id)) return;
    // a dead mount of a crashed daemon is unmounted first (the real one: ENOTCONN -> umount -l)
    if (this.mounted.has(o.mountpoint)) await this.unmount(o.mountpoint);
    this.calls.push(`export ${o.id}`);
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

  status(): QsdStatus {
    return {
      state: this.running ? 'running' : 'not-started',
      pid: this.running ? 4242 : null,
      adopted: false,
      restarts: this.restarts,
      readBytes: this.running ? this.io.readBytes : null,
      diskReadBytes: this.running ? this.io.diskReadBytes : null,
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
