import type { Logger } from 'pino';
import type { BootSessionInfo, BootSessionStarter } from '../sessions/boot-session.js';

interface StartEntry {
  p: Promise<BootSessionInfo>;
  mode: 'normal' | 'maintenance';
  clientIp: string;
  at: number;
  settled: boolean;
  /** Arrival number of the last request before the session (or its error) was first handed out. */
  deliveredAt: number | null;
}

/** How long a script request waits for its session before answering "preparing, ask again". */
export const SESSION_WAIT_MS = 15_000;
/** A started session nobody came back for is forgotten after this (the idle timeout ends it). */
const START_KEEP_MS = 5 * 60_000;
/** A delivered start is kept this long for requests that arrived while it was in flight. */
const DELIVERED_KEEP_MS = 60_000;

export interface SessionStartsDeps {
  sessions: BootSessionStarter;
  /** Whether the session already has an event of this kind (an `os_up` ends resuming it). */
  hasKind: (sessionId: string, kind: 'os_up') => Promise<boolean>;
  log: Logger;
  /** How long a request waits for its session (default 15 s) before answering "preparing". */
  waitMs?: number;
}

/**
 * The session starts of the boot endpoint, per machine: in flight, finished but not yet fetched,
 * or delivered (kept for the requests that arrived before the delivery: duplicates of the same
 * boot get the same session).
 */
export class SessionStarts {
  private readonly starts = new Map<string, StartEntry>();
  /** Arrival number of each script request, to tell duplicates from a later boot. */
  private arrivals = 0;

  /** How long a script request waits for its session before answering "preparing, ask again". */
  waitMs: number;

  constructor(private readonly d: SessionStartsDeps) {
    this.waitMs = d.waitMs ?? SESSION_WAIT_MS;
  }

  /** Numbers a script request as it arrives (before it waits for its MAC's lock). */
  arrive(): number {
    return ++this.arrivals;
  }

  /** The machine's start not yet settled, for the boot guard (one handed out is judged by its session). */
  unsettled(machineId: string): { mode: 'normal' | 'maintenance'; clientIp: string; at: number } | null {
    const e = this.starts.get(machineId);
    return e && !e.settled && Date.now() - e.at <= START_KEEP_MS ? e : null;
  }

  /** Session starts still running. */
  inFlight(): number {
    let n = 0;
    for (const e of this.starts.values()) if (!e.settled) n++;
    return n;
  }

  /**
   * The session of this boot: started now, or the one a previous request of the same client left
   * starting. Null when it is not ready within waitMs; it keeps starting in the background and the
   * client's next request (a few seconds later) picks it up. At most one start per machine is in
   * flight: requests that arrive meanwhile (an impatient iPXE, a flood for one MAC) wait for it and
   * get its session; one with another mode or address gets "preparing" and never starts a second.
   * A request that arrives after a session was handed out is a new boot.
   */
  async sessionFor(
    machineId: string,
    mode: 'normal' | 'maintenance',
    clientIp: string,
    arrival: number,
    resumeId: string | null = null,
  ): Promise<BootSessionInfo | null> {
    let entry = this.starts.get(machineId);
    if (entry) {
      const same = entry.mode === mode && entry.clientIp === clientIp;
      const old = Date.now() - entry.at > START_KEEP_MS;
      if (entry.deliveredAt !== null) {
        // handed out already: a duplicate of that boot joins it; anything later is a new boot
        if (arrival > entry.deliveredAt || old) entry = undefined;
        else if (!same) return null;
      } else if (!entry.settled) {
        if (old) {
          this.d.log.warn({ machineId }, 'a session start has been running for minutes; starting anew');
          entry = undefined;
        } else if (!same) return null;
      } else if (!same || old) entry = undefined; // finished, nobody took it, and this is another boot
      if (!entry) this.starts.delete(machineId);
    }
    if (!entry && resumeId) {
      // the same client asking again before it logged in: the same session, not a new one (an OS
      // that reported itself up has booted from it: this is a new boot)
      const again = !(await this.d.hasKind(resumeId, 'os_up'));
      const resumed = again ? await this.d.sessions.resumeSession?.(resumeId) : null;
      if (resumed) return resumed;
    }
    if (!entry) {
      const p = this.d.sessions.startSession({ machineId, mode, clientIp });
      const e: StartEntry = { p, mode, clientIp, at: Date.now(), settled: false, deliveredAt: null };
      const settle = () => {
        e.settled = true;
      };
      p.then(settle, settle); // also: a start nobody waits for any more is not an unhandled rejection
      this.starts.set(machineId, e);
      entry = e;
    }
    const e = entry;
    const wait = this.waitMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), wait)));
    const delivered = () => {
      if (e.deliveredAt !== null) return;
      e.deliveredAt = this.arrivals;
      setTimeout(() => {
        if (this.starts.get(machineId) === e) this.starts.delete(machineId);
      }, DELIVERED_KEEP_MS).unref();
    };
    try {
      const r = await Promise.race([e.p, timeout]);
      if (r) delivered();
      return r;
    } catch (err) {
      delivered(); // requests that arrived meanwhile get the same error, not a second attempt
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
