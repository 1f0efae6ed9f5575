import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { alive, type DaemonState } from './supervisor.js';

/** What a daemon adapter needs of whoever keeps its daemon running (SupervisedDaemon or ExternalDaemon). */
export interface DaemonHandle {
  readonly pid: number | null;
  readonly state: DaemonState;
  readonly restartCount: number;
  readonly adopted: boolean;
  start(): Promise<void>;
  stop(force?: boolean): Promise<void>;
  on(event: 'restarted', fn: () => void): unknown;
}

export interface ExternalDaemonSpec {
  /** Short name for logs, e.g. `qemu-storage-daemon`. */
  name: string;
  /** The unit that runs it, named in errors (e.g. `ggnet-storage.service`). */
  unit: string;
  /** The pid file the daemon writes (e.g. qemu-storage-daemon --pidfile). */
  pidFile: string;
  /** Resolves true when the daemon answers. */
  healthCheck: () => Promise<boolean>;
  /** How long start() waits for the daemon to answer. */
  startTimeoutMs?: number;
  healthIntervalMs?: number;
}

export class ExternalDaemonUnavailableError extends Error {
  constructor(
    readonly daemon: string,
    readonly unit: string,
  ) {
    super(
      `${daemon} does not answer: it is run by systemd (${unit}), not by GGnet; see systemctl status ${unit}`,
    );
    this.name = 'ExternalDaemonUnavailableError';
  }
}

/**
 * A daemon that systemd (or another service manager) runs beside GGnet, e.g. qemu-storage-daemon in
 * ggnet-storage.service, which holds the FUSE mount privilege GGnet's own unit does not have. GGnet
 * neither starts nor stops it: it waits for it to answer, health-checks it and tells a restart (its
 * pid changed: every export it held is gone) by the pid file the daemon writes.
 */
export class ExternalDaemon extends EventEmitter implements DaemonHandle {
  private _pid: number | null = null;
  private _state: DaemonState = 'stopped';
  private restarts = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly adopted = true;

  constructor(
    readonly spec: ExternalDaemonSpec,
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

  private readPid(): number | null {
    try {
      const pid = Number(readFileSync(this.spec.pidFile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 1 && alive(pid) ? pid : null;
    } catch {
      return null;
    }
  }

  /** Reads the pid and asks the daemon; a new pid after a known one counts as a restart. */
  private async check(): Promise<boolean> {
    const ok = await this.spec.healthCheck().catch(() => false);
    const pid = this.readPid();
    if (ok && pid !== null && this._pid !== null && pid !== this._pid) {
      this.restarts++;
      this.log.warn(
        { daemon: this.spec.name, unit: this.spec.unit, pid, before: this._pid },
        'the daemon was restarted by its unit (what it served was lost with the old process)',
      );
      this._pid = pid;
      this._state = 'running';
      this.emit('restarted', this.restarts);
      return true;
    }
    if (ok && pid !== null) this._pid = pid;
    this._state = ok ? 'running' : 'failed';
    return ok;
  }

  async start(): Promise<void> {
    const until = Date.now() + (this.spec.startTimeoutMs ?? 10_000);
    this._state = 'starting';
    while (!(await this.check())) {
      if (Date.now() > until) {
        this._state = 'failed';
        this.startTimer();
        throw new ExternalDaemonUnavailableError(this.spec.name, this.spec.unit);
      }
      await sleep(200);
    }
    this.log.info(
      { daemon: this.spec.name, unit: this.spec.unit, pid: this._pid },
      'using the daemon of its unit',
    );
    this.startTimer();
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const was = this._state;
      void this.check().then((ok) => {
        if (ok !== (was === 'running'))
          this.log[ok ? 'info' : 'error'](
            { daemon: this.spec.name, unit: this.spec.unit },
            ok
              ? 'the daemon answers again'
              : `the daemon does not answer (systemctl status ${this.spec.unit})`,
          );
      });
    }, this.spec.healthIntervalMs ?? 3000);
    this.timer.unref();
  }

  /** Stops watching; the daemon is its unit's to stop. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this._state = 'stopped';
  }
}
