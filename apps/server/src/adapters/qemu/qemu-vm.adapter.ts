import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { alive, terminatePid } from '../process/supervisor.js';
import { QmpConnection } from '../qsd/qmp.js';
import { buildQemuArgs, consoleVmName, type ConsoleVmDisk, type ConsoleVmSpec } from './qemu-args.js';

/** What the console service asks of QEMU for one image's VM (the files are the adapter's business). */
export interface ConsoleVmStart {
  id: string;
  accel: 'kvm' | 'tcg';
  memoryMiB: number;
  cpus: number;
  disk: Omit<ConsoleVmDisk, 'chapSecretFile'> & { chapSecret: string };
  cdrom: string | null;
  network: 'none' | 'user';
}

export type VmExitListener = (id: string, info: { code: number | null; signal: string | null }) => void;

/**
 * Console VMs (issue 15 point 3): one QEMU process per image, VNC and QMP on unix sockets in
 * `<data dir>/run/console/`. A VM is supervised (its exit is noticed and reported; a VM that the guest
 * powered off stays off) and survives a GGnet restart: the next GGnet adopts it by its pid file
 * (the process must still run QEMU with this VM's `-name`).
 */
export interface QemuVms {
  /** kvm when /dev/kvm can be opened for reading and writing, tcg otherwise. */
  detectAccel(): Promise<'kvm' | 'tcg'>;
  /** Starts the VM and waits until its QMP monitor answers; returns the PID. */
  start(vm: ConsoleVmStart): Promise<number>;
  /** The PID of a running VM of this id left by an earlier GGnet (then watched), or null. */
  adopt(id: string): Promise<number | null>;
  isRunning(id: string): boolean;
  /** Hard power off (QMP quit, then SIGTERM/SIGKILL by PID); not running is fine. */
  powerOff(id: string): Promise<void>;
  /** ACPI power button (the guest shuts itself down). */
  shutdown(id: string): Promise<void>;
  /** Unix socket of the VM's VNC server. */
  vncSocket(id: string): string;
  /** Called when a VM's process ends (guest power-off, power off, crash). */
  onExit(fn: VmExitListener): void;
  /** Stops watching; the VMs keep running for the next GGnet to adopt. */
  close(): Promise<void>;
}

const ID_RE = /^[0-9a-f-]{36}$/;

export class RealQemuVms implements QemuVms {
  private readonly dir: string;
  private readonly logs: string;
  private readonly pids = new Map<string, number>();
  private readonly watchers = new Map<string, NodeJS.Timeout>();
  private readonly listeners: VmExitListener[] = [];

  constructor(
    private readonly opts: { dataDir: string; command?: string; kvmDevice?: string },
    private readonly log: Logger,
  ) {
    this.dir = join(opts.dataDir, 'run', 'console');
    this.logs = join(opts.dataDir, 'logs');
  }

  private files(id: string) {
    if (!ID_RE.test(id)) throw new Error(`invalid console VM id: ${id}`);
    return {
      vnc: join(this.dir, `${id}.vnc`),
      qmp: join(this.dir, `${id}.qmp`),
      pid: join(this.dir, `${id}.pid`),
      secret: join(this.dir, `${id}.chap`),
      log: join(this.logs, `console-${id}.log`),
    };
  }

  vncSocket(id: string): string {
    return this.files(id).vnc;
  }

  async detectAccel(): Promise<'kvm' | 'tcg'> {
    try {
      await access(this.opts.kvmDevice ?? '/dev/kvm', constants.R_OK | constants.W_OK);
      return 'kvm';
    } catch {
      return 'tcg';
    }
  }

  onExit(fn: VmExitListener): void {
    this.listeners.push(fn);
  }

  isRunning(id: string): boolean {
    const pid = this.pids.get(id);
    return pid !== undefined && alive(pid);
  }

  private exited(id: string, code: number | null, signal: string | null) {
    const t = this.watchers.get(id);
    if (t) clearInterval(t);
    this.watchers.delete(id);
    if (!this.pids.delete(id)) return;
    const f = this.files(id);
    for (const p of [f.pid, f.secret, f.vnc, f.qmp]) rmSync(p, { force: true });
    this.log.info({ vm: id, code, signal }, 'console VM exited');
    for (const l of this.listeners) l(id, { code, signal });
  }

  /** Adopted processes are not our children: their exit is seen by polling the PID. */
  private watch(id: string, pid: number) {
    const t = setInterval(() => {
      if (!alive(pid)) this.exited(id, null, null);
    }, 1000);
    t.unref();
    this.watchers.set(id, t);
  }

  private async qmp<T>(id: string, fn: (q: QmpConnection) => Promise<T>): Promise<T> {
    const q = await QmpConnection.open(this.files(id).qmp, 3000);
    try {
      return await fn(q);
    } finally {
      q.close();
    }
  }

  async start(vm: ConsoleVmStart): Promise<number> {
    const f = this.files(vm.id);
    if (this.isRunning(vm.id)) throw new Error(`console VM ${vm.id} is already running`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    mkdirSync(this.logs, { recursive: true, mode: 0o700 });
    for (const p of [f.pid, f.vnc, f.qmp]) rmSync(p, { force: true });
    writeFileSync(f.secret, vm.disk.chapSecret, { mode: 0o600 });
    const { chapSecret: _secret, ...disk } = vm.disk;
    const spec: ConsoleVmSpec = {
      id: vm.id,
      accel: vm.accel,
      memoryMiB: vm.memoryMiB,
      cpus: vm.cpus,
      disk: { ...disk, chapSecretFile: f.secret },
      cdrom: vm.cdrom,
      network: vm.network,
      vncSocket: f.vnc,
      qmpSocket: f.qmp,
      pidFile: f.pid,
    };
    const args = buildQemuArgs(spec);
    const fd = openSync(f.log, 'a', 0o600);
    const child = (() => {
      try {
        return spawn(this.opts.command ?? 'qemu-system-x86_64', args, {
          stdio: ['ignore', fd, fd],
          // own process group, not waited for: the VM outlives a GGnet restart
          detached: true,
        });
      } finally {
        closeSync(fd);
      }
    })();
    child.unref();
    let spawnError: Error | null = null;
    child.once('error', (e) => (spawnError = e));
    let exit: { code: number | null; signal: string | null } | null = null;
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      if (this.pids.get(vm.id) === child.pid) this.exited(vm.id, code, signal);
    });
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (spawnError) throw new Error(`cannot start QEMU: ${(spawnError as Error).message}`);
        if (exit) throw new Error(`QEMU exited at start (${JSON.stringify(exit)}): ${this.logTail(f.log)}`);
        const up = await this.qmp(vm.id, (q) => q.execute('query-status')).then(
          () => true,
          () => false,
        );
        if (up) break;
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`QEMU did not answer on its monitor within 20 s: ${this.logTail(f.log)}`);
        }
        await sleep(100);
      }
    } finally {
      // QEMU read the secret when it made the iSCSI disk: it never stays on the disk
      rmSync(f.secret, { force: true });
    }
    const pid = child.pid!;
    this.pids.set(vm.id, pid);
    this.log.info({ vm: vm.id, pid, accel: vm.accel }, 'console VM started');
    return pid;
  }

  private logTail(file: string): string {
    try {
      return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      return '';
    }
  }

  async adopt(id: string): Promise<number | null> {
    const f = this.files(id);
    if (this.isRunning(id)) return this.pids.get(id)!;
    let pid: number;
    try {
      pid = Number(readFileSync(f.pid, 'utf8').trim());
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return null;
    let cmd: string[];
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return null;
    }
    // the same VM: QEMU with this VM's name (a reused PID is some other process)
    const i = cmd.indexOf('-name');
    if (i < 0 || !cmd[i + 1]?.startsWith(`${consoleVmName(id)},`)) return null;
    this.pids.set(id, pid);
    this.watch(id, pid);
    this.log.info({ vm: id, pid }, 'adopted running console VM');
    return pid;
  }

  async shutdown(id: string): Promise<void> {
    if (!this.isRunning(id)) return;
    await this.qmp(id, (q) => q.execute('system_powerdown'));
  }

  async powerOff(id: string): Promise<void> {
    const pid = this.pids.get(id);
    if (pid === undefined) return;
    await this.qmp(id, (q) => q.execute('quit')).catch(() => undefined);
    const until = Date.now() + 3000;
    while (Date.now() < until && alive(pid)) await sleep(50);
    await terminatePid(pid);
    // a child's exit event may come a moment later: report the exit once, now
    this.exited(id, null, null);
  }

  async close(): Promise<void> {
    for (const t of this.watchers.values()) clearInterval(t);
    this.watchers.clear();
    this.pids.clear();
  }
}
