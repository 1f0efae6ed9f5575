import {
  TRAFFIC_HISTORY,
  type MachineTraffic,
  type Traffic,
  type TrafficPoint,
  type TrafficSample,
  type TrafficSnapshot,
} from '@ggnet/contracts';
import type { PersistedTraffic } from './persisted-traffic.js';
import { TrafficCounter, type ConnectionCounters } from './traffic-counter.js';

export { TRAFFIC_HISTORY };

/** One live session at a sampling pass: who it is and its TCP connections' counters now. */
export interface SessionConnections {
  sessionId: string;
  machineId: string;
  machineName: string | null;
  conns: ConnectionCounters[];
}

/** What one pass added, per machine (Prometheus counters are increased by these). */
export interface TrafficDelta {
  machineId: string;
  machineName: string | null;
  read: number;
  written: number;
}

interface Entry {
  sessionId: string;
  machineId: string;
  machineName: string | null;
  counter: TrafficCounter;
  traffic: Traffic | null;
  atMs: number | null;
  history: TrafficPoint[];
  /** Totals at the last save (takeUnsaved) and when it was. */
  saved: { read: number; written: number; atMs: number } | null;
}

/** A session's traffic to write to its row. */
export interface TrafficToSave {
  sessionId: string;
  traffic: PersistedTraffic;
}

const push = <T>(list: T[], item: T) => {
  list.push(item);
  if (list.length > TRAFFIC_HISTORY) list.splice(0, list.length - TRAFFIC_HISTORY);
};

const rate = (bytes: number, ms: number) => (ms > 0 ? Math.round((bytes * 1000) / ms) : 0);

/** Its totals differ from the last saved ones. */
const isUnsaved = (e: Entry) =>
  !!e.traffic &&
  (!e.saved || e.saved.read !== e.traffic.readBytes || e.saved.written !== e.traffic.writtenBytes);

const toSave = (e: Entry): TrafficToSave | null =>
  e.traffic
    ? {
        sessionId: e.sessionId,
        traffic: {
          readBytes: e.traffic.readBytes,
          writtenBytes: e.traffic.writtenBytes,
          sampledAt: e.traffic.sampledAt,
          counter: e.counter.state(),
        },
      }
    : null;

/**
 * The live traffic of the room, in memory: per live session its totals (TrafficCounter), the rates
 * between the last two samples, and a short history per machine and for the whole room. The session
 * monitor feeds it once per pass; the API, the metrics and the console read it.
 */
export class LiveTraffic {
  private readonly sessions = new Map<string, Entry>();
  private readonly room: TrafficPoint[] = [];
  private lastAt: string | null = null;
  private readonly listeners: Array<(sample: TrafficSample, deltas: TrafficDelta[]) => void> = [];
  /** Sessions that ended with totals not saved yet. */
  private endedUnsaved: TrafficToSave[] = [];

  constructor(readonly intervalSec: number) {}

  /**
   * One pass: `live` is every live session the monitor looked at (with no connections when none is
   * open: its totals stay). A session not in `live` has ended and is forgotten.
   */
  record(atMs: number, live: readonly SessionConnections[]): TrafficSample {
    const at = new Date(atMs).toISOString();
    const ids = new Set(live.map((s) => s.sessionId));
    for (const [id, e] of this.sessions)
      if (!ids.has(id)) {
        this.sessions.delete(id);
        const save = toSave(e);
        if (save && isUnsaved(e)) this.endedUnsaved.push(save);
      }
    const deltas: TrafficDelta[] = [];
    const machines: MachineTraffic[] = [];
    let readRate = 0;
    let writeRate = 0;
    for (const s of live) {
      let e = this.sessions.get(s.sessionId);
      if (!e) {
        // a session is followed from its first connection on
        if (!s.conns.length) continue;
        e = {
          sessionId: s.sessionId,
          machineId: s.machineId,
          machineName: s.machineName,
          counter: new TrafficCounter(),
          traffic: null,
          atMs: null,
          history: [],
          saved: null,
        };
        this.sessions.set(s.sessionId, e);
      }
      e.machineName = s.machineName;
      const before = e.counter.totals();
      const now = e.counter.update(s.conns);
      const read = now.readBytes - before.readBytes;
      const written = now.writtenBytes - before.writtenBytes;
      const dt = e.atMs === null ? 0 : atMs - e.atMs;
      e.traffic = {
        readBytes: now.readBytes,
        writtenBytes: now.writtenBytes,
        readBytesPerSec: rate(read, dt),
        writeBytesPerSec: rate(written, dt),
        sampledAt: at,
      };
      e.atMs = atMs;
      push(e.history, {
        at,
        readBytesPerSec: e.traffic.readBytesPerSec,
        writeBytesPerSec: e.traffic.writeBytesPerSec,
      });
      readRate += e.traffic.readBytesPerSec;
      writeRate += e.traffic.writeBytesPerSec;
      if (read || written) deltas.push({ machineId: s.machineId, machineName: s.machineName, read, written });
      machines.push({
        machineId: e.machineId,
        machineName: e.machineName,
        sessionId: e.sessionId,
        traffic: e.traffic,
      });
    }
    const total = { at, readBytesPerSec: readRate, writeBytesPerSec: writeRate };
    push(this.room, total);
    this.lastAt = at;
    const sample = { at, total, machines };
    for (const l of this.listeners) l(sample, deltas);
    return sample;
  }

  /**
   * Sessions followed again after a restart of GGnet, from what their rows saved: their totals go on
   * from there (see TrafficCounter.from). A session already followed is left as it is.
   */
  restore(
    saved: ReadonlyArray<{
      sessionId: string;
      machineId: string;
      machineName: string | null;
      traffic: PersistedTraffic;
    }>,
  ): void {
    for (const r of saved) {
      if (this.sessions.has(r.sessionId)) continue;
      const counter = TrafficCounter.from(r.traffic.counter);
      const totals = counter.totals();
      this.sessions.set(r.sessionId, {
        sessionId: r.sessionId,
        machineId: r.machineId,
        machineName: r.machineName,
        counter,
        traffic: {
          readBytes: totals.readBytes,
          writtenBytes: totals.writtenBytes,
          readBytesPerSec: 0,
          writeBytesPerSec: 0,
          sampledAt: r.traffic.sampledAt,
        },
        atMs: null,
        history: [],
        saved: {
          read: totals.readBytes,
          written: totals.writtenBytes,
          atMs: Date.parse(r.traffic.sampledAt) || 0,
        },
      });
    }
  }

  /**
   * What to write to the sessions' rows now: every session that ended with unsaved totals, and every
   * live one whose totals changed and were last saved `everyMs` or more ago. They count as saved
   * from here (a failed write is retried at the next change).
   */
  takeUnsaved(nowMs: number, everyMs: number): TrafficToSave[] {
    const out = this.endedUnsaved;
    this.endedUnsaved = [];
    for (const e of this.sessions.values()) {
      if (!isUnsaved(e) || (e.saved && nowMs - e.saved.atMs < everyMs)) continue;
      const save = toSave(e);
      if (!save) continue;
      out.push(save);
      e.saved = { read: save.traffic.readBytes, written: save.traffic.writtenBytes, atMs: nowMs };
    }
    return out;
  }

  onSample(listener: (sample: TrafficSample, deltas: TrafficDelta[]) => void): void {
    this.listeners.push(listener);
  }

  ofSession(sessionId: string | null | undefined): Traffic | null {
    return (sessionId && this.sessions.get(sessionId)?.traffic) || null;
  }

  /** How many sessions are followed (live, with a connection seen). */
  get followed(): number {
    return this.sessions.size;
  }

  /** The room's rates at the last pass (null before any). */
  current(): TrafficPoint | null {
    return this.room.at(-1) ?? null;
  }

  snapshot(): TrafficSnapshot {
    return {
      sampledAt: this.lastAt,
      intervalSec: this.intervalSec,
      total: [...this.room],
      machines: [...this.sessions.values()]
        .filter((e) => e.traffic)
        .map((e) => ({
          machineId: e.machineId,
          machineName: e.machineName,
          sessionId: e.sessionId,
          traffic: e.traffic!,
          history: [...e.history],
        })),
    };
  }
}
