import { buildQemuArgs } from './qemu-args.js';
import type { ConsoleVmStart, QemuVms, VmExitListener } from './qemu-vm.adapter.js';

/**
 * Console VMs without QEMU (small and integration tests): records what was started, with the
 * argument array the real adapter would use; `guestPowerOff(id)` plays the guest powering off.
 */
export class FakeQemuVms implements QemuVms {
  readonly started: Array<ConsoleVmStart & { args: string[] }> = [];
  readonly running = new Map<string, number>();
  /** VMs a previous GGnet left running (adopt() finds them). */
  readonly leftRunning = new Map<string, number>();
  readonly shutdowns: string[] = [];
  accel: 'kvm' | 'tcg' = 'tcg';
  failNextStart: Error | null = null;
  private nextPid = 40_000;
  private readonly listeners: VmExitListener[] = [];

  constructor(private readonly dir = '/var/lib/ggnet/run/console') {}

  async detectAccel() {
    return this.accel;
  }

  async start(vm: ConsoleVmStart): Promise<number> {
    if (this.failNextStart) {
      const e = this.failNextStart;
      this.failNextStart = null;
      throw e;
    }
    if (this.running.has(vm.id)) throw new Error(`console VM ${vm.id} is already running`);
    const { chapSecret: _s, ...disk } = vm.disk;
    const args = buildQemuArgs({
      ...vm,
      disk: { ...disk, chapSecretFile: `${this.dir}/${vm.id}.chap` },
      vncSocket: this.vncSocket(vm.id),
      qmpSocket: `${this.dir}/${vm.id}.qmp`,
      pidFile: `${this.dir}/${vm.id}.pid`,
    });
    this.started.push({ ...vm, args });
    const pid = this.nextPid++;
    this.running.set(vm.id, pid);
    return pid;
  }

  async adopt(id: string): Promise<number | null> {
    const pid = this.running.get(id) ?? this.leftRunning.get(id);
    if (pid === undefined) return null;
    this.leftRunning.delete(id);
    this.running.set(id, pid);
    return pid;
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  private exit(id: string) {
    if (!this.running.delete(id)) return;
    for (const l of this.listeners) l(id, { code: 0, signal: null });
  }

  async powerOff(id: string): Promise<void> {
    this.exit(id);
  }

  async shutdown(id: string): Promise<void> {
    if (this.running.has(id)) this.shutdowns.push(id);
  }

  /** The guest powers itself off: the process ends. */
  guestPowerOff(id: string): void {
    this.exit(id);
  }

  vncSocket(id: string): string {
    return `${this.dir}/${id}.vnc`;
  }

  onExit(fn: VmExitListener): void {
    this.listeners.push(fn);
  }

  async close(): Promise<void> {}
}
