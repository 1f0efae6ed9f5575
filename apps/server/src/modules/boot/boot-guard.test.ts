import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { BootEvent, Settings } from '@ggnet/contracts';
import { defaultSettings } from '@ggnet/contracts';
import { EventBus } from '../../events/event-bus.js';
import type { LiveConnection } from '../../adapters/iscsi/iscsi-target.adapter.js';
import type { SessionRow } from '../sessions/sessions.repository.js';
import {
  BootGuard,
  PROTECT_MS,
  decideBoot,
  refusalScript,
  type GuardFacts,
  type GuardSession,
} from './boot-guard.js';
import { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { NewBootEvent } from '../boot-events/boot-events.repository.js';

const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();

const session = (o: Partial<GuardSession> = {}): GuardSession => ({
  id: 's1',
  state: 'active',
  mode: 'normal',
  clientIp: '10.0.0.21',
  startedAt: ago(600_000),
  readyAt: ago(599_000),
  activeAt: ago(598_000),
  lastActivityAt: ago(10_000),
  knownAddresses: ['10.0.0.21'],
  ...o,
});

const facts = (o: Partial<GuardFacts> = {}): GuardFacts => ({
  clientIp: '10.0.0.21',
  fixedIp: null,
  leased: null,
  inFlight: null,
  session: null,
  connections: null,
  nowMs: NOW,
  ...o,
});

describe('decideBoot', () => {
  it('a machine without a session boots from anywhere (no lease knowledge, no fixed IP)', () => {
    expect(decideBoot(facts({ clientIp: '10.0.0.99' }))).toEqual({ kind: 'start' });
  });

  it('a fixed IP: only that address gets a script', () => {
    expect(decideBoot(facts({ fixedIp: '10.0.0.21', clientIp: '10.0.0.21' }))).toEqual({ kind: 'start' });
    expect(decideBoot(facts({ fixedIp: '10.0.0.21', clientIp: '10.0.0.66' }))).toMatchObject({
      kind: 'refuse',
      reason: 'fixed_ip',
      owner: '10.0.0.21',
    });
  });

  it('dhcp mode: only an address GGnet leased to that MAC gets a script (no lease at all: refused)', () => {
    expect(decideBoot(facts({ leased: ['10.0.0.21'] }))).toEqual({ kind: 'start' });
    expect(decideBoot(facts({ leased: ['10.0.0.21'], clientIp: '10.0.0.66' }))).toMatchObject({
      kind: 'refuse',
      reason: 'not_leased',
    });
    expect(decideBoot(facts({ leased: [] }))).toMatchObject({ kind: 'refuse', reason: 'not_leased' });
  });

  it('a logged-in initiator at another address: refused, whatever the session state says', () => {
    const conns = [{ address: '10.0.0.21' }];
    expect(
      decideBoot(facts({ clientIp: '10.0.0.66', session: session(), connections: conns })),
    ).toMatchObject({ kind: 'refuse', reason: 'in_use', owner: '10.0.0.21', sessionId: 's1' });
    // the monitor has not seen the login yet (state ready): the target's live state decides
    expect(
      decideBoot(
        facts({
          clientIp: '10.0.0.66',
          session: session({ state: 'ready', activeAt: null, knownAddresses: [] }),
          connections: conns,
        }),
      ),
    ).toMatchObject({ kind: 'refuse', reason: 'in_use' });
  });

  it('the same address with a live connection: probe it; a dead one is the PC that rebooted, a live one a copy', () => {
    const f = facts({ session: session(), connections: [{ address: '10.0.0.21' }] });
    expect(decideBoot(f)).toEqual({ kind: 'probe', sessionId: 's1' });
    expect(decideBoot(f, false)).toEqual({ kind: 'start' });
    expect(decideBoot(f, true)).toMatchObject({ kind: 'refuse', reason: 'in_use', owner: '10.0.0.21' });
  });

  it("the target cannot be asked: the monitor's last view protects, without a probe", () => {
    const s = session();
    expect(decideBoot(facts({ clientIp: '10.0.0.66', session: s, connections: null }))).toMatchObject({
      kind: 'refuse',
      reason: 'in_use',
    });
    expect(decideBoot(facts({ session: s, connections: null }))).toEqual({ kind: 'start' });
  });

  it('between script and login: the address that asked is protected for PROTECT_MS, then the disk is free', () => {
    const booting = session({
      state: 'ready',
      activeAt: null,
      lastActivityAt: null,
      knownAddresses: [],
      startedAt: ago(5_000),
      readyAt: ago(4_000),
    });
    expect(decideBoot(facts({ clientIp: '10.0.0.66', session: booting, connections: [] }))).toMatchObject({
      kind: 'refuse',
      reason: 'booting',
      owner: '10.0.0.21',
    });
    const stale = { ...booting, startedAt: ago(PROTECT_MS + 5_000), readyAt: ago(PROTECT_MS + 4_000) };
    expect(decideBoot(facts({ clientIp: '10.0.0.66', session: stale, connections: [] }))).toEqual({
      kind: 'start',
    });
    // the same address asking again before it logged in gets the same session back
    expect(decideBoot(facts({ session: booting, connections: [] }))).toEqual({
      kind: 'resume',
      sessionId: 's1',
      mode: 'normal',
    });
  });

  it('a session whose initiator just went away (iPXE -> OS) stays protected for a while', () => {
    const s = session({ lastActivityAt: ago(20_000), knownAddresses: [] });
    expect(decideBoot(facts({ clientIp: '10.0.0.66', session: s, connections: [] }))).toMatchObject({
      kind: 'refuse',
      reason: 'in_use',
    });
    expect(decideBoot(facts({ session: s, connections: [] }))).toEqual({ kind: 'start' });
    const gone = session({ lastActivityAt: ago(PROTECT_MS + 1), knownAddresses: [] });
    expect(decideBoot(facts({ clientIp: '10.0.0.66', session: gone, connections: [] }))).toEqual({
      kind: 'start',
    });
  });

  it('a start in flight for another address is refused; the same address joins it', () => {
    expect(decideBoot(facts({ inFlight: { clientIp: '10.0.0.21' } }))).toEqual({ kind: 'start' });
    expect(decideBoot(facts({ clientIp: '10.0.0.66', inFlight: { clientIp: '10.0.0.21' } }))).toMatchObject({
      kind: 'refuse',
      reason: 'booting',
    });
  });

  it('a session an operator started through the API (no client address) is replaced by a boot, as before', () => {
    const s = session({ clientIp: null, state: 'ready', activeAt: null, knownAddresses: [] });
    expect(decideBoot(facts({ session: s, connections: [] }))).toEqual({ kind: 'start' });
  });
});

describe('refusalScript', () => {
  it('is a readable iPXE screen that asks again later and reveals no other address', () => {
    const text = refusalScript({
      reason: 'in_use',
      machineName: 'pc-07',
      mac: '52:54:00:00:00:07',
      clientIp: '10.0.0.66',
      baseUrl: 'http://10.0.0.1:8080',
    });
    expect(text).toMatch(/^#!ipxe\n/);
    expect(text).toContain('echo ======== GGnet: boot refused: pc-07 is running on another PC ========');
    expect(text).toContain('chain --replace --autofree http://10.0.0.1:8080/boot/ipxe?mac=${netX/mac}');
    expect(text).not.toContain('sanboot');
  });
});

describe('BootGuard', () => {
  const settings = (mode: 'off' | 'dhcp' | 'proxy' = 'off'): Settings => {
    const s = defaultSettings();
    return { ...s, dhcp: { ...s.dhcp, mode } };
  };
  const row = (o: Partial<SessionRow> = {}): SessionRow => ({
    id: 's1',
    machine_id: 'm1',
    image_id: 'i',
    version_id: 'v',
    target_id: 't1',
    writeback_id: 'w',
    mode: 'normal',
    state: 'active',
    end_reason: null,
    error: null,
    client_ip: '10.0.0.21',
    started_at: ago(600_000),
    ready_at: ago(599_000),
    active_at: ago(598_000),
    ended_at: null,
    last_activity_at: ago(10_000),
    connections: JSON.stringify([{ initiator: 'iqn.x:pc-07', address: '10.0.0.21' }]),
    traffic: null,
    ...o,
  });
  const conn: LiveConnection = { initiator: 'iqn.x:pc-07', address: '10.0.0.21', sid: '4', cid: '0' };

  function guard(o: { rx?: () => number | null; session?: SessionRow; conns?: LiveConnection[] } = {}) {
    let now = NOW;
    const events: NewBootEvent[] = [];
    const audits: unknown[] = [];
    const bus = new EventBus();
    const published: string[] = [];
    bus.subscribe((e) => published.push(e.type));
    const recorder = new BootEventRecorder(
      {
        insertMany: async (es) => {
          events.push(...es);
          return es.map((e, i): BootEvent => ({ id: events.length - es.length + i + 1, ...e }));
        },
      },
      bus,
    );
    const g = new BootGuard({
      liveSession: async () => ('session' in o ? o.session : row()),
      targetIqn: async () => 'iqn.2024-01.lan.ggnet:pc-07',
      liveConnections: async () => o.conns ?? [conn],
      connectionRx: o.rx ? async () => o.rx!() : undefined,
      leasesOf: async () => ['10.0.0.21'],
      // the real recorder (it publishes `boot.event`) over an in-memory boot_events
      recordEvent: (e) => recorder.record(e),
      audit: async (e) => void audits.push(e),
      bus,
      log: pino({ level: 'silent' }),
      now: () => now,
      sleep: async (n) => void (now += n),
    });
    return { g, events, audits, published, advance: (n: number) => (now += n) };
  }
  const req = (clientIp: string, mode: 'off' | 'dhcp' = 'off') => ({
    mac: '52:54:00:00:00:07',
    machine: { id: 'm1', name: 'pc-07', ip: null },
    clientIp,
    baseUrl: 'http://10.0.0.1:8080',
    settings: settings(mode),
    inFlight: null,
  });

  it('refuses another address, records it once per minute (event, bus, audit), and touches nothing else', async () => {
    const { g, events, audits, published, advance } = guard();
    const r = await g.check(req('10.0.0.66'));
    expect(r.refused?.reason).toBe('in_use');
    expect(r.refused?.script).toContain('boot refused');
    expect(events).toEqual([
      expect.objectContaining({
        kind: 'refused',
        mac: '52:54:00:00:00:07',
        machineId: 'm1',
        sessionId: 's1',
        detail: { reason: 'in_use', ip: '10.0.0.66', owner: '10.0.0.21', machineName: 'pc-07' },
      }),
    ]);
    expect(audits).toEqual([
      { machineId: 'm1', mac: '52:54:00:00:00:07', ip: '10.0.0.66', reason: 'in_use' },
    ]);
    expect(published).toEqual(['boot.event', 'boot.refused']);
    // iPXE asks again every 30 s: repeats within a minute are refused but not recorded again
    await g.check(req('10.0.0.66'));
    expect(events).toHaveLength(1);
    advance(61_000);
    await g.check(req('10.0.0.66'));
    expect(events).toHaveLength(2);
  });

  it('same address: a connection whose byte counter moves is alive (a copy of MAC and IP): refused', async () => {
    let rx = 100;
    const { g, events } = guard({ rx: () => (rx += 48) });
    expect((await g.check(req('10.0.0.21'))).refused?.reason).toBe('in_use');
    expect(events[0]?.detail).toMatchObject({ reason: 'in_use', ip: '10.0.0.21' });
  });

  it('same address: a still counter for the whole probe is a PC that was reset: it boots', async () => {
    const { g, events, advance } = guard({ rx: () => 1404 });
    const t0 = NOW;
    const r = await g.check(req('10.0.0.21'));
    expect(r.refused).toBeUndefined();
    expect(events).toHaveLength(0);
    // the probe watched at least one ping interval (5 s) of the fake clock
    expect(advance(0) - t0).toBeGreaterThanOrEqual(6_000);
  });

  it('dhcp mode: an address not leased to that MAC is refused even with no session at all', async () => {
    const { g } = guard({ session: undefined, conns: [] });
    expect((await g.check(req('10.0.0.66', 'dhcp'))).refused?.reason).toBe('not_leased');
    expect((await g.check(req('10.0.0.21', 'dhcp'))).refused).toBeUndefined();
  });
});
