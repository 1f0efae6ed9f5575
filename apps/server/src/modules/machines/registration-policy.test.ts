import { defaultSettings } from '@ggnet/contracts';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../events/event-bus.js';
import { RegistrationPolicy, type RegistrationCapEvent } from './registration-policy.js';

/** An in-memory machines table with what the policy asks of the repository. */
class FakeMachines {
  rows: Array<{ id: string; pending: boolean; lastSeen: string }> = [];
  count = async (pendingOnly = false) => this.rows.filter((r) => !pendingOnly || r.pending).length;
  stalePending = async (before: string, limit: number) =>
    this.rows
      .filter((r) => r.pending && r.lastSeen < before)
      .sort((a, b) => a.lastSeen.localeCompare(b.lastSeen))
      .slice(0, limit)
      .map((r) => r.id);
  deletePending = async (ids: string[]) => {
    const gone = this.rows.filter((r) => ids.includes(r.id) && r.pending).map((r) => r.id);
    this.rows = this.rows.filter((r) => !gone.includes(r.id));
    return gone;
  };
}

function setup(machines: Partial<ReturnType<typeof defaultSettings>['machines']> = {}) {
  let t = Date.parse('2025-01-01T00:00:00Z');
  const now = () => t;
  const repo = new FakeMachines();
  const reports: RegistrationCapEvent[] = [];
  const bus = new EventBus();
  const deleted: string[] = [];
  bus.subscribe((e) => e.type === 'machine.deleted' && deleted.push(e.id));
  const policy = new RegistrationPolicy({
    repo,
    bus,
    log: pino({ level: 'silent' }),
    report: async (e) => {
      reports.push(e);
    },
    now,
  });
  const m = { ...defaultSettings().machines, ...machines };
  let n = 0;
  const register = (policyName: 'pending' | 'auto' = 'pending', mac = `mac-${n}`) =>
    policy.register(policyName, m, { mac, ip: '10.0.0.9' }, async () => {
      const id = `m${++n}`;
      repo.rows.push({ id, pending: policyName === 'pending', lastSeen: new Date(t).toISOString() });
      return id;
    });
  return { repo, reports, deleted, policy, register, m, advance: (ms: number) => (t += ms) };
}

describe('RegistrationPolicy', () => {
  it('pending: a full list of fresh entries refuses; stale entries make room, oldest first', async () => {
    const s = setup({ pendingMax: 3, pendingExpireSec: 600, registerPerHour: 100 });
    for (let i = 0; i < 3; i++) {
      expect((await s.register()).ok).toBe(true);
      s.advance(60_000);
    }
    // full, and every entry was seen less than 10 min ago
    expect(await s.register()).toEqual({ ok: false, reason: 'pending_full' });
    expect(s.repo.rows).toHaveLength(3);
    // 8 min later the first entry (seen at 0) is stale, the others (1 and 2 min) are not yet
    s.advance(8 * 60_000);
    expect(await s.register()).toMatchObject({ ok: true, value: 'm4' });
    expect(s.deleted).toEqual(['m1']);
    expect(s.repo.rows.map((r) => r.id)).toEqual(['m2', 'm3', 'm4']);
    // an approved machine (no longer pending) is never expired
    s.repo.rows[0]!.pending = false;
    expect((await s.register()).ok).toBe(true); // 2 pending: room without expiry
    s.advance(60 * 60_000);
    expect((await s.register()).ok).toBe(true);
    expect(s.deleted).toEqual(['m1', 'm3']);
    expect(s.repo.rows.map((r) => r.id)).toEqual(['m2', 'm4', 'm5', 'm6']);
  });

  it('at most registerPerHour per sliding hour, pending and auto alike; the window passes', async () => {
    const s = setup({ registerPerHour: 5, pendingMax: 1000, autoRegisterMax: 1000 });
    for (let i = 0; i < 3; i++) expect((await s.register('pending')).ok).toBe(true);
    s.advance(30 * 60_000);
    for (let i = 0; i < 2; i++) expect((await s.register('auto')).ok).toBe(true);
    for (let i = 0; i < 20; i++) expect(await s.register('auto')).toEqual({ ok: false, reason: 'per_hour' });
    expect(s.repo.rows).toHaveLength(5);
    expect(s.policy.lastHour).toBe(5);
    // half an hour later the first three leave the window
    s.advance(30 * 60_000);
    expect((await s.register('pending')).ok).toBe(true);
  });

  it('auto: stops at autoRegisterMax machines in all', async () => {
    const s = setup({ autoRegisterMax: 4, registerPerHour: 100 });
    s.repo.rows.push({ id: 'by-hand', pending: false, lastSeen: '2024-01-01T00:00:00.000Z' });
    for (let i = 0; i < 3; i++) expect((await s.register('auto')).ok).toBe(true);
    expect(await s.register('auto')).toEqual({ ok: false, reason: 'auto_total' });
    s.advance(24 * 3_600_000);
    expect(await s.register('auto')).toEqual({ ok: false, reason: 'auto_total' });
  });

  it('a cap that bites is reported once per interval per reason, with the count refused since', async () => {
    const s = setup({ registerPerHour: 2, pendingMax: 1000 });
    await s.register();
    await s.register();
    for (let i = 0; i < 50; i++) await s.register('pending', `flood-${i}`);
    expect(s.reports).toHaveLength(1);
    expect(s.reports[0]).toMatchObject({
      reason: 'per_hour',
      policy: 'pending',
      setting: 'machines.registerPerHour',
      cap: 2,
      refused: 1,
      mac: 'flood-0',
      ip: '10.0.0.9',
    });
    expect(s.reports[0]!.retryAfterSec).toBe(3600);
    s.advance(10 * 60_000);
    await s.register('pending', 'flood-x');
    expect(s.reports).toHaveLength(2);
    expect(s.reports[1]).toMatchObject({ reason: 'per_hour', refused: 50, retryAfterSec: 3000 });
  });

  it('concurrent registrations cannot overshoot a cap', async () => {
    const s = setup({ registerPerHour: 1000, pendingMax: 10 });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => s.register('pending', `c-${i}`)));
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(s.repo.rows).toHaveLength(10);
  });

  it('a failed create does not count', async () => {
    const s = setup({ registerPerHour: 1 });
    const policy = s.policy;
    await expect(
      policy.register('pending', s.m, { mac: 'a', ip: 'b' }, async () => {
        throw new Error('name taken');
      }),
    ).rejects.toThrow('name taken');
    expect(policy.lastHour).toBe(0);
    expect((await s.register()).ok).toBe(true);
  });
});
