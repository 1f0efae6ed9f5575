import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** `conflict`: a process that is not ours holds the daemon's resource (e.g. a tgtd control port). */
export type DaemonState = 'stopped' | 'starting' | 'running' | 'restarting' | 'failed' | 'conflict';

/** The daemon's resource is held by a process that is not ours: it is neither started nor talked to. */
export class DaemonConflictError extends Error {
  constructor(
    readonly daemon: string,
    readonly conflict: string,
  ) {
    super(`${daemon}: ${conflict}`);
    this.name = 'DaemonConflictError';
  }
}

export interface DaemonSpec {
  /** Short name for logs and metrics, e.g. `tgtd`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** stdout+stderr are appended here. */
  logFile: string;
  /** Where the PID is written, so that a restarted GGnet adopts the daemon instead of starting a second one. */
  pidFile: string;
  /**
   * Resolves true when the daemon answers (e.g. `tgtadm --op show --mode sys`); `pid` is the process
   * that is meant to answer (our child, or the adopted one), so that a check can tell whether the
   * answer came from it.
   */
  healthCheck: (pid: number) => Promise<boolean>;
  /**
   * A process that is not `ownPid` holds what the daemon needs (a control port's lock): its
   * description, or null. While it does, the daemon is in state `conflict`: not started, not
   * restarted in a loop, not health-checked through the foreign process; checked again every
   * health interval and started once the resource is free.
   */
  foreign?: (ownPid: number | null) => string | null;
  startTimeoutMs?: number;
  healthIntervalMs?: number;
  /** Consecutive failed health checks before the daemon is killed and restarted. */
  unhealthyAfter?: number;
  /** Orderly stop (e.g. tgtadm --op delete --mode system); SIGTERM/SIGKILL follow if the PID is still alive. */
  gracefulStop?: (pid: number) => Promise<void>;
  /** Leave the daemon running when GGnet shuts down (tgtd: booted clients keep their disks). */
  keepOnShutdown?: boolean;
  maxRestarts?: number;
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** SIGTERM, then SIGKILL if the process is still there after 3 s; resolves once it is gone (or after 5 s). */
export async function terminatePid(pid: number): Promise<void> {
  for (const [sig, waitMs] of [
    ['SIGTERM', 3000],
    ['SIGKILL', 2000],
  ] as const) {
    if (!alive(pid)) return;
    try {
      process.kill(pid, sig);
    } catch {
      return;
    }
    const until = Date.now() + waitMs;
    while (Date.now() < until && alive(pid)) await sleep(50);
  }
}

const cmdlineOf = (pid: number): string[] | null => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
};

/**
 * Keeps one long-lived daemon running: starts it (or adopts the one a previous GGnet left running),
 * health-checks it, restarts it with backoff when it dies or stops answering, stops it on shutdown.
 * Emits `state` (DaemonState) and `restarted` (count).
 */
export class SupervisedDaemon extends EventEmitter {
  private child: ChildProcess | null = null;
  private _pid: number | null = null;
  private _state: DaemonState = 'stopped';
  private stopping = false;
  private restarts = 0;
  private healthTimer: NodeJS.Timeout | null = null;
  private failedChecks = 0;
  private restarting: Promise<void> | null = null;
  private _conflict: string | null = null;
  private conflictTimer: NodeJS.Timeout | null = null;
  adopted = false;

  constructor(
    readonly spec: DaemonSpec,
    private readonly log: Logger,
  ) {
    super();
  }

  get pid(): number | null {
    return this._pid;
  }
  get state(): DaemonState {
    return this._state;
  }
  get restartCount(): number {
    return this.restarts;
  }
  /** What holds the daemon's resource while the state is `conflict`. */
  get conflict(): string | null {
    return this._conflict;
  }
  /** Running, answering and ours: requests may be sent to it. */
  get serving(): boolean {
    return this._state === 'running' && this._pid !== null && alive(this._pid);
  }

  private setState(s: DaemonState) {
    if (this._state === s) return;
    this._state = s;
    this.emit('state', s);
  }

  /** The PID in the pid file, if that process is alive and runs our command. */
  private adoptablePid(): number | null {
    let pid: number;
    try {
      pid = Number(readFileSync(this.spec.pidFile, 'utf8').trim());
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return null;
    const cmd = cmdlineOf(pid);
    if (!cmd || !cmd[0]?.endsWith(this.spec.command.split('/').pop()!)) return null;
    return pid;
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.setState('starting');
    const existing = this.adoptablePid();
    const foreign = this.spec.foreign?.(existing) ?? null;
    if (foreign) throw this.enterConflict(foreign);
    if (existing && (await this.spec.healthCheck(existing).catch(() => false))) {
      this._pid = existing;
      this.adopted = true;
      this.log.info({ daemon: this.spec.name, pid: existing }, 'adopted running daemon');
    } else {
      try {
        await this.spawnAndWait();
      } catch (err) {
        const f = this.spec.foreign?.(null) ?? null;
        if (f) throw this.enterConflict(f);
        throw err;
      }
    }
    this.setState('running');
    this.startHealthLoop();
  }

  /**
   * A foreign process holds the resource: never talk to it, never restart in a loop against it; look
   * again every health interval and start the daemon once the resource is free.
   */
  private enterConflict(conflict: string): DaemonConflictError {
    const first = this._conflict !== conflict;
    this._conflict = conflict;
    this._pid = null;
    this.stopHealthLoop();
    this.setState('conflict');
    if (first) {
      this.log.error({ daemon: this.spec.name, conflict }, `${this.spec.name}: ${conflict}`);
      this.emit('conflict', conflict);
    }
    if (!this.conflictTimer) {
      this.conflictTimer = setInterval(
        () => void this.retryAfterConflict(),
        this.spec.healthIntervalMs ?? 5000,
      );
      this.conflictTimer.unref();
    }
    return new DaemonConflictError(this.spec.name, conflict);
  }

  private retrying = false;
  private async retryAfterConflict(): Promise<void> {
    if (this.stopping || this.retrying) return;
    const f = this.spec.foreign?.(null) ?? null;
    if (f) {
      if (f !== this._conflict) this.enterConflict(f);
      return;
    }
    this.retrying = true;
    try {
      await this.spawnAndWait();
      this.clearConflict();
      this.failedChecks = 0;
      this.setState('running');
      this.emit('restarted', ++this.restarts);
      this.startHealthLoop();
    } catch (err) {
      const again = this.spec.foreign?.(null) ?? null;
      if (again) this.enterConflict(again);
      else this.log.error({ daemon: this.spec.name, err }, 'daemon start after a conflict failed');
    } finally {
      this.retrying = false;
    }
  }

  private clearConflict() {
    if (this.conflictTimer) clearInterval(this.conflictTimer);
    this.conflictTimer = null;
    if (this._conflict) this.log.info({ daemon: this.spec.name }, 'the conflict is over');
    this._conflict = null;
  }

  private async spawnAndWait(): Promise<void> {
    const fd = openSync(this.spec.logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(this.spec.command, this.spec.args, {
        env: this.spec.env ?? process.env,
        stdio: ['ignore', fd, fd],
        // own process group: a Ctrl-C or SIGTERM to GGnet's group does not reach the daemon
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    if (this.spec.keepOnShutdown) child.unref();
    this.child = child;
    this.adopted = false;
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    const timeout = this.spec.startTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const err = await Promise.race([spawnError, sleep(100).then(() => null)]);
      if (err) throw new Error(`${this.spec.name}: cannot start ${this.spec.command}: ${err.message}`);
      if (child.exitCode !== null) break;
      if (child.pid && (await this.spec.healthCheck(child.pid).catch(() => false))) {
        this._pid = child.pid!;
        writeFileSync(this.spec.pidFile, `${child.pid}\n`, { mode: 0o600 });
        this.log.info({ daemon: this.spec.name, pid: child.pid }, 'daemon started');
        return;
      }
    }
    const tail = (() => {
      try {
        return readFileSync(this.spec.logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
      } catch {
        return '';
      }
    })();
    if (child.exitCode === null) child.kill('SIGKILL');
    throw new Error(
      `${this.spec.name} did not become healthy within ${timeout} ms${child.exitCode !== null ? ` (exited with ${child.exitCode})` : ''}${tail ? `: ${tail}` : ''}`,
    );
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null) {
    if (this.child !== child) return;
    this.child = null;
    this._pid = null;
    if (this.stopping) return;
    // a child that dies while being started is spawnAndWait's to report (no second restart loop)
    if (this._state !== 'running') return;
    this.log.warn({ daemon: this.spec.name, code, signal }, 'daemon exited unexpectedly; restarting');
    void this.restart();
  }

  private startHealthLoop() {
    this.stopHealthLoop();
    const every = this.spec.healthIntervalMs ?? 5000;
    this.healthTimer = setInterval(() => void this.checkHealth(), every);
    this.healthTimer.unref();
  }

  private stopHealthLoop() {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
  }

  private async checkHealth(): Promise<void> {
    if (this.stopping || this.restarting || this._state !== 'running') return;
    const pid = this._pid;
    const foreign = this.spec.foreign?.(pid !== null && alive(pid) ? pid : null) ?? null;
    if (foreign) {
      // ours died and another process took its place (or never was ours): never use it
      if (pid !== null && alive(pid)) await this.killPid(pid);
      this.enterConflict(foreign);
      return;
    }
    const ok = pid !== null && alive(pid) && (await this.spec.healthCheck(pid).catch(() => false));
    if (ok) {
      this.failedChecks = 0;
      return;
    }
    this.failedChecks++;
    if (pid === null || !alive(pid) || this.failedChecks >= (this.spec.unhealthyAfter ?? 3)) {
      this.log.warn(
        { daemon: this.spec.name, pid, failedChecks: this.failedChecks },
        'daemon unhealthy; restarting',
      );
      void this.restart();
    }
  }

  /** Kill (if still there) and start again, with backoff; gives up after maxRestarts in a row. */
  restart(): Promise<void> {
    if (this.restarting) return this.restarting;
    this.restarting = (async () => {
      this.setState('restarting');
      this.stopHealthLoop();
      const pid = this._pid;
      if (pid !== null && alive(pid)) await this.killPid(pid);
      this._pid = null;
      while (!this.stopping) {
        this.restarts++;
        const max = this.spec.maxRestarts ?? 10;
        try {
          await sleep(Math.min(200 * 2 ** Math.min(this.restarts - 1, 5), 5000));
          if (this.stopping) return;
          await this.spawnAndWait();
          this.failedChecks = 0;
          this.setState('running');
          this.emit('restarted', this.restarts);
          this.startHealthLoop();
          return;
        } catch (err) {
          const foreign = this.spec.foreign?.(null) ?? null;
          if (foreign) {
            this.enterConflict(foreign);
            return;
          }
          this.log.error({ daemon: this.spec.name, err }, 'daemon restart failed');
          if (this.restarts >= max) {
            this.setState('failed');
            return;
          }
        }
      }
    })().finally(() => {
      this.restarting = null;
    });
    return this.restarting;
  }

  private async killPid(pid: number): Promise<void> {
    if (this.spec.gracefulStop) await this.spec.gracefulStop(pid).catch(() => undefined);
    await terminatePid(pid);
  }

  /**
   * Stops supervising. With keepOnShutdown (and force=false) the daemon keeps running for the next
   * GGnet to adopt; otherwise it is stopped and its pid file removed.
   */
  async stop(force = false): Promise<void> {
    this.stopping = true;
    this.stopHealthLoop();
    if (this.conflictTimer) clearInterval(this.conflictTimer);
    this.conflictTimer = null;
    if (this.restarting) await this.restarting.catch(() => undefined);
    const pid = this._pid;
    if (pid !== null && (force || !this.spec.keepOnShutdown)) {
      await this.killPid(pid);
      rmSync(this.spec.pidFile, { force: true });
      this._pid = null;
    }
    this.child?.unref();
    this.setState('stopped');
  }
}
