import { describe, expect, it } from 'vitest';
import type { BootEvent, Session } from '@ggnet/contracts';
import { bootBuckets, overallMedian } from './boot-stats';
import { hasRole } from './roles';
import { bootPhases } from './timeline';

const T0 = Date.parse('2026-11-25T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
// through unknown: the fixture fits Session before and after it gains connections/lastActivityAt (iSCSI issue)
const session = (start: number, active: number | null, extra: Partial<Session> = {}): Session =>
  ({
    id: `s${start}`,
    machineId: 'm',
    machineName: 'pc',
    imageId: null,
    versionId: null,
    targetId: null,
    writebackId: null,
    mode: 'normal',
    state: active ? 'active' : 'starting',
    endReason: null,
    error: null,
    clientIp: null,
    startedAt: iso(start),
    readyAt: null,
    activeAt: active ? iso(active) : null,
    endedAt: null,
    connections: [],
    lastActivityAt: null,
    ...extra,
  }) as unknown as Session;

describe('roles', () => {
  it('are ordered admin > operator > viewer', () => {
    expect(hasRole('admin', 'operator')).toBe(true);
    expect(hasRole('operator', 'operator')).toBe(true);
    expect(hasRole('viewer', 'operator')).toBe(false);
    expect(hasRole(undefined, 'viewer')).toBe(false);
  });
});

describe('bootBuckets', () => {
  it('puts each finished boot in its hour with the median boot time', () => {
    const now = T0 + 30 * 60_000; // 10:30
    const sessions = [
      session(T0 + 60_000, T0 + 60_000 + 10_000), // 10 s
      session(T0 + 120_000, T0 + 120_000 + 30_000), // 30 s
      session(T0 + 180_000, T0 + 180_000 + 20_000), // 20 s
      session(T0 - 3_600_000 + 5_000, T0 - 3_600_000 + 5_000 + 50_000), // 09:00 hour, 50 s
      session(T0 - 48 * 3_600_000, T0 - 48 * 3_600_000 + 1000), // too old
      session(T0 + 240_000, null, { state: 'ended', endReason: 'error' }),
    ];
    const b = bootBuckets(sessions, now);
    expect(b).toHaveLength(24);
    const last = b[23]!;
    expect(new Date(last.start).toISOString()).toBe('2026-11-25T10:00:00.000Z');
    expect(last).toMatchObject({ count: 3, medianSec: 20, maxSec: 30, failed: 1 });
    expect(b[22]).toMatchObject({ count: 1, medianSec: 50 });
    expect(b.slice(0, 22).every((x) => x.count === 0)).toBe(true);
    expect(overallMedian(sessions, now)).toBe(25);
  });
});

describe('bootPhases', () => {
  const ev = (kind: BootEvent['kind'], ms: number): BootEvent => ({
    id: ms,
    at: iso(ms),
    mac: null,
    machineId: null,
    sessionId: 's',
    kind,
    detail: {},
  });
  it('draws DHCP -> TFTP -> script -> iSCSI up to OS up from boot events', () => {
    const s = session(T0, T0 + 20_000);
    const phases = bootPhases(
      [
        ev('dhcp_discover', T0 - 3000),
        ev('dhcp_ack', T0 - 2000),
        ev('tftp', T0 - 1000),
        ev('script', T0),
        ev('iscsi_login', T0 + 2000),
        ev('os_up', T0 + 20_000),
      ],
      s,
      T0 + 60_000,
    );
    expect(phases.map((p) => [p.key, (p.endMs - p.startMs) / 1000])).toEqual([
      ['dhcp', 2],
      ['tftp', 1],
      ['script', 2],
      ['iscsi', 18],
    ]);
  });
  it('falls back to the session timestamps without boot events; a running boot ends at now', () => {
    const s = session(T0, null, { readyAt: iso(T0 + 1500) });
    const phases = bootPhases([], s, T0 + 10_000);
    expect(phases.map((p) => [p.label, (p.endMs - p.startMs) / 1000])).toEqual([
      ['Disk prepared', 1.5],
      ['Booting OS', 8.5],
    ]);
  });
});
