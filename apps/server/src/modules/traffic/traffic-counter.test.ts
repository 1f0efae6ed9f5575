import { describe, expect, it } from 'vitest';
import { LiveTraffic, TRAFFIC_HISTORY } from './live-traffic.js';
import { parsePersistedTraffic, savedTraffic } from './persisted-traffic.js';
import { TrafficCounter } from './traffic-counter.js';

const c = (key: string, read: number, written: number) => ({ key, read, written });

describe('TrafficCounter', () => {
  it('a connection seen for the first time counts with what it carried so far', () => {
    const t = new TrafficCounter();
    expect(t.update([c('a', 1000, 200)])).toEqual({ readBytes: 1000, writtenBytes: 200 });
    expect(t.update([c('a', 5000, 300)])).toEqual({ readBytes: 5000, writtenBytes: 300 });
  });

  it('keeps a closed connection in the total and adds the reconnect from 0', () => {
    const t = new TrafficCounter();
    t.update([c('a', 5000, 300)]);
    // closed between two samples: its last counters stay
    expect(t.update([])).toEqual({ readBytes: 5000, writtenBytes: 300 });
    expect(t.connections).toBe(0);
    // the client reconnects (new source port)
    expect(t.update([c('b', 100, 10)])).toEqual({ readBytes: 5100, writtenBytes: 310 });
    // several connections at once (MC/S, or the old one not yet gone)
    expect(t.update([c('b', 200, 20), c('d', 50, 5)])).toEqual({ readBytes: 5250, writtenBytes: 325 });
  });

  it('the same four-tuple with lower counters is a new connection: the total does not go back', () => {
    const t = new TrafficCounter();
    t.update([c('a', 5000, 300)]);
    expect(t.update([c('a', 40, 0)])).toEqual({ readBytes: 5040, writtenBytes: 300 });
    expect(t.update([c('a', 90, 10)])).toEqual({ readBytes: 5090, writtenBytes: 310 });
  });

  it('never goes back over any sequence of reconnects', () => {
    const t = new TrafficCounter();
    let last = { readBytes: 0, writtenBytes: 0 };
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const open = new Map<string, { read: number; written: number }>();
    for (let i = 0; i < 500; i++) {
      const op = rnd(4);
      if (op === 0) open.set(`k${rnd(5)}`, { read: 0, written: 0 });
      else if (op === 1) open.delete(`k${rnd(5)}`);
      for (const v of open.values()) {
        v.read += rnd(10_000);
        v.written += rnd(1_000);
      }
      const now = t.update([...open].map(([key, v]) => c(key, v.read, v.written)));
      expect(now.readBytes).toBeGreaterThanOrEqual(last.readBytes);
      expect(now.writtenBytes).toBeGreaterThanOrEqual(last.writtenBytes);
      last = now;
    }
  });
});

describe('TrafficCounter state', () => {
  it('goes on from a saved state: an open connection counts only what it carried since, a closed one keeps its bytes', () => {
    const t = new TrafficCounter();
    t.update([c('a', 5000, 300)]);
    t.update([c('b', 100, 10)]); // a closed
    const saved = JSON.parse(JSON.stringify(t.state())) as unknown;
    const u = TrafficCounter.from(saved);
    expect(u.totals()).toEqual({ readBytes: 5100, writtenBytes: 310 });
    // b still open, went on; c opened meanwhile
    expect(u.update([c('b', 700, 70), c('c', 5, 1)])).toEqual({ readBytes: 5705, writtenBytes: 371 });
    // b closed while nobody counted: its saved counters stay
    expect(TrafficCounter.from(saved).update([])).toEqual({ readBytes: 5100, writtenBytes: 310 });
  });

  it('reads nothing malformed from a state: counts from zero instead of throwing', () => {
    for (const bad of [
      null,
      'x',
      { closedRead: -1, closedWritten: 1.5, open: [[1, 2, 3], ['k', 'x', 1], 'y'] },
    ])
      expect(TrafficCounter.from(bad).totals()).toEqual({ readBytes: 0, writtenBytes: 0 });
    expect(parsePersistedTraffic('{')).toBeNull();
    expect(parsePersistedTraffic('{"readBytes":-4,"writtenBytes":0,"sampledAt":"x"}')).toBeNull();
    expect(savedTraffic(null)).toBeNull();
    expect(savedTraffic('{"readBytes":4,"writtenBytes":2,"sampledAt":"2026-12-04T00:00:00.000Z"}')).toEqual({
      readBytes: 4,
      writtenBytes: 2,
      readBytesPerSec: 0,
      writeBytesPerSec: 0,
      sampledAt: '2026-12-04T00:00:00.000Z',
    });
  });
});

describe('LiveTraffic', () => {
  const s = (sessionId: string, conns: ReturnType<typeof c>[]) => ({
    sessionId,
    machineId: `m-${sessionId}`,
    machineName: `pc-${sessionId}`,
    conns,
  });

  it('rates are the difference between two samples over their interval; the room rate is the sum', () => {
    const lt = new LiveTraffic(3);
    const deltas: number[] = [];
    lt.onSample((_, d) => deltas.push(...d.map((x) => x.read)));
    const first = lt.record(10_000, [s('1', [c('a', 1_000_000, 0)]), s('2', [c('b', 0, 0)])]);
    expect(first.machines[0]!.traffic).toMatchObject({ readBytes: 1_000_000, readBytesPerSec: 0 });
    const second = lt.record(12_000, [s('1', [c('a', 3_000_000, 500)]), s('2', [c('b', 400, 4000)])]);
    expect(second.machines.map((m) => m.traffic)).toEqual([
      {
        readBytes: 3_000_000,
        writtenBytes: 500,
        readBytesPerSec: 1_000_000,
        writeBytesPerSec: 250,
        sampledAt: new Date(12_000).toISOString(),
      },
      {
        readBytes: 400,
        writtenBytes: 4000,
        readBytesPerSec: 200,
        writeBytesPerSec: 2000,
        sampledAt: new Date(12_000).toISOString(),
      },
    ]);
    expect(second.total).toEqual({ at: second.at, readBytesPerSec: 1_000_200, writeBytesPerSec: 2250 });
    // counters got the bytes once each
    expect(deltas).toEqual([1_000_000, 2_000_000, 400]);
    expect(lt.ofSession('1')?.readBytes).toBe(3_000_000);
  });

  it('a live session without connections keeps its totals; an ended one is forgotten', () => {
    const lt = new LiveTraffic(3);
    lt.record(0, [s('1', [c('a', 900, 90)])]);
    lt.record(3000, [s('1', [])]);
    expect(lt.ofSession('1')).toMatchObject({ readBytes: 900, writtenBytes: 90, readBytesPerSec: 0 });
    lt.record(6000, [s('1', [c('z', 300, 0)])]);
    expect(lt.ofSession('1')).toMatchObject({ readBytes: 1200, readBytesPerSec: 100 });
    lt.record(9000, []);
    expect(lt.ofSession('1')).toBeNull();
    expect(lt.snapshot().machines).toEqual([]);
    // a session that never had a connection is not followed
    lt.record(12_000, [s('2', [])]);
    expect(lt.ofSession('2')).toBeNull();
  });

  it('keeps a bounded history per machine and for the room', () => {
    const lt = new LiveTraffic(3);
    for (let i = 0; i < TRAFFIC_HISTORY + 10; i++) lt.record(i * 1000, [s('1', [c('a', i * 1000, 0)])]);
    const snap = lt.snapshot();
    expect(snap.total).toHaveLength(TRAFFIC_HISTORY);
    expect(snap.machines[0]!.history).toHaveLength(TRAFFIC_HISTORY);
    expect(snap.machines[0]!.history.at(-1)!.readBytesPerSec).toBe(1000);
    expect(snap.sampledAt).toBe(new Date((TRAFFIC_HISTORY + 9) * 1000).toISOString());
  });

  it('says what to save: a session at its first sample, then at most every interval, and once more when it ends', () => {
    const lt = new LiveTraffic(3);
    const ids = (xs: { sessionId: string }[]) => xs.map((x) => x.sessionId);
    lt.record(0, [s('1', [c('a', 100, 10)]), s('2', [])]);
    const first = lt.takeUnsaved(0, 30_000);
    expect(first).toEqual([
      {
        sessionId: '1',
        traffic: {
          readBytes: 100,
          writtenBytes: 10,
          sampledAt: new Date(0).toISOString(),
          counter: { closedRead: 0, closedWritten: 0, open: [['a', 100, 10]] },
        },
      },
    ]);
    lt.record(3000, [s('1', [c('a', 200, 10)])]);
    expect(lt.takeUnsaved(3000, 30_000)).toEqual([]); // changed, but saved 3 s ago
    expect(ids(lt.takeUnsaved(30_000, 30_000))).toEqual(['1']);
    expect(lt.takeUnsaved(90_000, 30_000)).toEqual([]); // nothing changed since
    lt.record(93_000, [s('1', [c('a', 250, 10)])]);
    lt.record(96_000, []); // ended, with 50 bytes not saved
    expect(lt.takeUnsaved(96_000, 30_000)).toMatchObject([{ sessionId: '1', traffic: { readBytes: 250 } }]);
    expect(lt.takeUnsaved(99_000, 30_000)).toEqual([]);
  });

  it('restores saved sessions after a restart and counts on from their TCP counters', () => {
    const before = new LiveTraffic(3);
    before.record(0, [s('1', [c('a', 1000, 100)])]);
    const [saved] = before.takeUnsaved(0, 30_000);
    const lt = new LiveTraffic(3);
    lt.restore([{ sessionId: '1', machineId: 'm-1', machineName: null, traffic: saved!.traffic }]);
    expect(lt.ofSession('1')).toMatchObject({ readBytes: 1000, writtenBytes: 100 });
    expect(lt.takeUnsaved(1000, 30_000)).toEqual([]); // what was restored is saved already
    // the connection stayed open across the restart: only its new bytes count
    lt.record(3000, [s('1', [c('a', 1500, 100)])]);
    expect(lt.ofSession('1')).toMatchObject({ readBytes: 1500, writtenBytes: 100, readBytesPerSec: 0 });
    expect(lt.snapshot().machines[0]!.machineName).toBe('pc-1');
  });
});
