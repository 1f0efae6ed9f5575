import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SupervisedDaemon, type DaemonState } from '../process/supervisor.js';
import { renderDnsmasqConf, renderDnsmasqHosts, type DnsmasqConfig } from './dnsmasq-config.js';
import { DnsmasqLogParser, type DnsmasqEvent } from './dnsmasq-log.js';

export type { DnsmasqConfig } from './dnsmasq-config.js';
export type { DnsmasqEvent } from './dnsmasq-log.js';

export interface DnsmasqStatus {
  /** `off` = GGnet does not want dnsmasq running. */
  state: DaemonState | 'off';
  pid: number | null;
  restarts: number;
  /** Last start/configuration error. */
  error: string | null;
}

/** dnsmasq as GGnet uses it: one supervised instance whose configuration follows the settings. */
export interface Dnsmasq {
  /** Files dnsmasq itself writes (they go into its configuration). */
  readonly files: { pid: string; leases: string; hosts?: string };
  /** Run dnsmasq with this configuration (restarting it if the text changed), or stop it (null). */
  apply(config: DnsmasqConfig | null): Promise<void>;
  status(): DnsmasqStatus;
  /** Receives the DHCP/TFTP events read from dnsmasq's log, in order. */
  setEventHandler(handler: (events: DnsmasqEvent[]) => Promise<void>): void;
  /** Reads everything dnsmasq has logged so far and waits until the handler has processed it. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

export interface DnsmasqDaemonOptions {
  /** State directory: dnsmasq.conf, dnsmasq.log, pid files. */
  dir: string;
  log: Logger;
  command?: string;
  /** Prefix for the command, e.g. ['ip', 'netns', 'exec', 'ns1'] (tests run dnsmasq in a namespace). */
  wrap?: string[];
  /** Rotate dnsmasq.log (to dnsmasq.log.1) above this size. */
  maxLogBytes?: number;
  healthIntervalMs?: number;
}

const TFTP_PORT_HEX = '0045';

/** True when the process has a UDP socket bound to port 69 (read from its own network namespace). */
function listensOnTftp(pid: number): boolean {
  for (const f of [`/proc/${pid}/net/udp`, `/proc/${pid}/net/udp6`]) {
    try {
      const lines = readFileSync(f, 'utf8').split('\n').slice(1);
      if (lines.some((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${TFTP_PORT_HEX}`))) return true;
    } catch {
      /* not there (process gone, no IPv6) */
    }
  }
  return false;
}

/** The real thing: dnsmasq under SupervisedDaemon, its log tailed into events. */
export class DnsmasqDaemon implements Dnsmasq {
  private daemon: SupervisedDaemon | null = null;
  private currentText: string | null = null;
  private currentHosts: string | null = null;
  private lastError: string | null = null;
  private readonly confFile: string;
  private readonly logFile: string;
  private readonly pidFile: string;
  /** Written by dnsmasq itself (the health check finds the process through it). */
  readonly ownPidFile: string;
  private readonly parser = new DnsmasqLogParser((ip) => this.neighbourMac(ip));
  private handler: (events: DnsmasqEvent[]) => Promise<void> = async () => undefined;
  private chain: Promise<void> = Promise.resolve();
  private offset = 0;
  private partial = '';
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly opts: DnsmasqDaemonOptions) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    // dnsmasq drops root and re-reads its hosts file in here on SIGHUP: others may pass through
    chmodSync(opts.dir, 0o711);
    this.confFile = join(opts.dir, 'dnsmasq.conf');
    this.logFile = join(opts.dir, 'dnsmasq.log');
    this.pidFile = join(opts.dir, 'dnsmasq.supervisor.pid');
    this.ownPidFile = join(opts.dir, 'dnsmasq.pid');
    // events logged while GGnet was not running are not replayed: their timing is unknown
    this.offset = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
  }

  get files() {
    return {
      pid: this.ownPidFile,
      leases: join(this.opts.dir, 'leases'),
      hosts: join(this.opts.dir, 'hosts'),
      conf: this.confFile,
      log: this.logFile,
    };
  }

  setEventHandler(handler: (events: DnsmasqEvent[]) => Promise<void>): void {
    this.handler = handler;
  }

  status(): DnsmasqStatus {
    if (!this.daemon)
      return {
        state: this.currentText && this.lastError ? 'failed' : 'off',
        pid: null,
        restarts: 0,
        error: this.lastError,
      };
    return {
      state: this.daemon.state,
      pid: this.daemon.pid,
      restarts: this.daemon.restartCount,
      error: this.daemon.state === 'failed' ? (this.lastError ?? 'dnsmasq keeps failing') : this.lastError,
    };
  }

  apply(config: DnsmasqConfig | null): Promise<void> {
    // one change at a time; a burst of setting changes ends in the last one
    this.applying = this.applying.catch(() => undefined).then(() => this.applyNow(config));
    return this.applying;
  }

  private async applyNow(config: DnsmasqConfig | null): Promise<void> {
    if (config === null) {
      await this.stopDaemon();
      this.currentText = null;
      this.lastError = null;
      return;
    }
    const text = renderDnsmasqConf(config);
    const hosts = config.hostsFile ? renderDnsmasqHosts(config.autoReservations ?? []) : null;
    const hostsChanged = hosts !== null && hosts !== this.currentHosts;
    if (config.hostsFile && hostsChanged) {
      const tmp = `${config.hostsFile}.tmp`;
      writeFileSync(tmp, hosts, { mode: 0o644 });
      // readable by dnsmasq after it dropped root (whatever the umask): it re-reads it on SIGHUP
      chmodSync(tmp, 0o644);
      renameSync(tmp, config.hostsFile);
      this.currentHosts = hosts;
    }
    const running = this.daemon && this.daemon.state !== 'failed' && this.daemon.state !== 'stopped';
    if (running && text === this.currentText) {
      // only machine addresses changed: dnsmasq re-reads its hosts file on SIGHUP, without a restart
      // (a restart drops the DHCP exchanges in flight, e.g. while machines register in a boot storm)
      if (hostsChanged && this.daemon?.pid) {
        this.opts.log.info('machine addresses changed; dnsmasq re-reads its hosts file (SIGHUP)');
        try {
          process.kill(this.daemon.pid, 'SIGHUP');
        } catch (err) {
          // gone between the check and the signal: the supervisor restarts it, reading the new file
          this.opts.log.warn({ err }, 'could not signal dnsmasq');
        }
      }
      return;
    }
    const tmp = `${this.confFile}.tmp`;
    // read by dnsmasq at start, while it is still root
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, this.confFile);
    this.currentText = text;
    this.startTail();
    try {
      if (this.daemon && this.daemon.state === 'running') {
        this.opts.log.info('dnsmasq configuration changed; restarting dnsmasq');
        await this.daemon.restart();
        if (this.daemon.state !== 'running') throw new Error(this.logTail() || 'dnsmasq did not come back');
      } else {
        await this.stopDaemon();
        this.daemon = this.newDaemon();
        await this.daemon.start();
        if (this.daemon.adopted) {
          // a dnsmasq left by a previous GGnet: it runs the file's previous text, so restart it with ours
          await this.daemon.restart();
        }
      }
      this.lastError = null;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.opts.log.error({ err }, 'dnsmasq could not be started');
      // nothing half-started stays behind; the next reconcile tries again
      await this.stopDaemon().catch(() => undefined);
      throw err;
    }
  }

  private newDaemon(): SupervisedDaemon {
    const command = this.opts.command ?? 'dnsmasq';
    const args = ['-k', `--conf-file=${this.confFile}`, '--log-facility=-'];
    const wrap = this.opts.wrap ?? [];
    const d = new SupervisedDaemon(
      {
        name: 'dnsmasq',
        command: wrap.length ? wrap[0]! : command,
        args: wrap.length ? [...wrap.slice(1), command, ...args] : args,
        logFile: this.logFile,
        pidFile: this.pidFile,
        healthCheck: async () => this.healthy(),
        healthIntervalMs: this.opts.healthIntervalMs ?? 5000,
        startTimeoutMs: 10_000,
        keepOnShutdown: false,
        maxRestarts: 10,
      },
      this.opts.log,
    );
    d.on('state', (s: DaemonState) => {
      if (s === 'failed') this.lastError = this.logTail() || 'dnsmasq keeps exiting';
    });
    return d;
  }

  /** dnsmasq answers when its own pid file names a live dnsmasq with the TFTP socket bound. */
  private healthy(): boolean {
    let pid: number;
    try {
      pid = Number(readFileSync(this.ownPidFile, 'utf8').trim());
    } catch {
      return false;
    }
    if (!Number.isInteger(pid) || pid <= 1) return false;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('dnsmasq') || !cmd.includes(this.confFile)) return false;
    } catch {
      return false;
    }
    return listensOnTftp(pid);
  }

  /** MAC of a neighbour on dnsmasq's side (its network namespace), from the kernel's ARP table. */
  private neighbourMac(ip: string): string | null {
    const pid = this.daemon?.pid;
    try {
      const lines = readFileSync(pid ? `/proc/${pid}/net/arp` : '/proc/net/arp', 'utf8')
        .split('\n')
        .slice(1);
      for (const l of lines) {
        const [addr, , flags, mac] = l.trim().split(/\s+/);
        if (addr === ip && flags !== '0x0' && mac && mac !== '00:00:00:00:00:00') return mac.toLowerCase();
      }
    } catch {
      /* no ARP table */
    }
    return null;
  }

  private logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => /dnsmasq(\[\d+\])?: (failed|bad|unknown|cannot|error|illegal|junk)/i.test(l))
        .slice(-3)
        .join(' | ');
    } catch {
      return '';
    }
  }

  private async stopDaemon(): Promise<void> {
    const d = this.daemon;
    this.daemon = null;
    if (d) await d.stop(true);
  }

  // ---- log tail -------------------------------------------------------------------------------

  private startTail(): void {
    if (this.watcher || this.poll) return;
    if (!existsSync(this.logFile)) writeFileSync(this.logFile, '', { flag: 'a' });
    try {
      this.watcher = watch(this.logFile, () => void this.read());
      this.watcher.on('error', () => undefined);
    } catch {
      this.watcher = null;
    }
    // fs.watch misses events on some filesystems; a slow poll backs it up
    this.poll = setInterval(() => void this.read(), 500);
    this.poll.unref();
  }

  private stopTail(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  /** Reads new log bytes; events go to the handler in order. Returns when they are handled. */
  private read(flush = false): Promise<void> {
    const events: DnsmasqEvent[] = [];
    const now = new Date();
    let fd: number | null = null;
    try {
      fd = openSync(this.logFile, 'r');
      const size = fstatSync(fd).size;
      if (size < this.offset) {
        this.offset = 0; // rotated or truncated
        this.partial = '';
      }
      const maxLog = this.opts.maxLogBytes ?? 16 * 1024 * 1024;
      while (this.offset < size) {
        const buf = Buffer.alloc(Math.min(size - this.offset, 1024 * 1024));
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.partial + buf.subarray(0, n).toString('utf8');
        const lines = text.split('\n');
        this.partial = lines.pop() ?? '';
        for (const l of lines) events.push(...this.parser.feed(l, now));
      }
      if (size > maxLog && this.offset >= size) {
        closeSync(fd);
        fd = null;
        // dnsmasq appends (O_APPEND), so truncating in place is safe; keep one old copy
        copyFileSync(this.logFile, `${this.logFile}.1`);
        truncateSync(this.logFile, 0);
        this.offset = 0;
      }
    } catch {
      /* log not there yet */
    } finally {
      if (fd !== null) closeSync(fd);
    }
    if (flush) events.push(...this.parser.flush());
    else this.scheduleFlush();
    if (!events.length) return this.chain;
    this.chain = this.chain
      .then(() => this.handler(events))
      .catch((err) => this.opts.log.error({ err }, 'recording DHCP/TFTP events failed'));
    return this.chain;
  }

  private scheduleFlush() {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    // the trailing lines of a packet (tags, boot file) come within microseconds; 150 ms is plenty
    this.flushTimer = setTimeout(() => void this.read(true), 150);
    this.flushTimer.unref();
  }

  drain(): Promise<void> {
    if (!this.watcher && !this.poll) return this.chain;
    return this.read(true);
  }

  async stop(): Promise<void> {
    await this.applying.catch(() => undefined);
    await this.drain().catch(() => undefined);
    this.stopTail();
    await this.stopDaemon();
  }
}
