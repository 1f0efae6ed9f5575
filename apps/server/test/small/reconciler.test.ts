import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { smallContext, smallImage, smallMachine, type SmallContext } from '../helpers/small.js';

/** Counts of a pass that mean "something was changed". */
const changes = (r: object) =>
  Object.fromEntries(
    Object.entries(r).filter(([k, v]) => typeof v === 'number' && v !== 0 && k !== 'reason'),
  );

/**
 * The database says what should exist; the reconciler makes the (fake) host match, idempotently.
 */
describe('reconciler (fake iSCSI driver, SQLite in memory)', () => {
  let s: SmallContext;
  let info: Awaited<ReturnType<SmallContext['c']['orchestrator']['startSession']>>;
  let prefix: string;
  beforeEach(async () => {
    s = await smallContext();
    const img = await smallImage(s.c);
    const m = await smallMachine(s.c, img.imageId);
    info = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    prefix = info.targetIqn.split(':')[0]!;
  });
  afterEach(async () => s.close());

  it('a target the database has and the host lacks is created; a second pass changes nothing', async () => {
    // tgtd restarted: every target and account is gone from the host
    s.driver.targets.clear();
    s.driver.accountList.clear();
    const r1 = await s.c.reconciler.run('test');
    expect(r1.errors).toEqual([]);
    expect(changes(r1)).toEqual({ targetsCreated: 1 });
    const live = s.driver.targets.get(info.targetIqn)!;
    expect(live.luns.map((l) => l.lun)).toEqual([1]);
    expect(live.chapUsers).toEqual([info.chap.username]);
    expect(s.driver.accountList.get(info.chap.username)).toBe(info.chap.password);
    expect(s.c.reconciler.lastReport).toBe(r1);

    const before = s.driver.calls.length;
    const r2 = await s.c.reconciler.run('again');
    expect(r2.errors).toEqual([]);
    expect(changes(r2)).toEqual({});
    // the second pass only read the host
    expect(s.driver.calls.slice(before).filter((c) => c !== 'list' && c !== 'accounts')).toEqual([]);
  });

  it('a target on the host that no row describes is removed; targets outside GGnet’s namespace are left alone', async () => {
    await s.driver.createTarget(`${prefix}:ghost`);
    await s.driver.createTarget('iqn.2000-01.com.example:not-ours');
    const r1 = await s.c.reconciler.run('test');
    expect(changes(r1)).toEqual({ orphanTargetsRemoved: 1 });
    expect([...s.driver.targets.keys()].sort()).toEqual(
      ['iqn.2000-01.com.example:not-ours', info.targetIqn].sort(),
    );
    expect(changes(await s.c.reconciler.run('again'))).toEqual({});
  });

  it('an orphan target an active session’s initiator is logged in to is left in place and reported', async () => {
    await s.c.repos.sessions.update(info.sessionId, { state: 'active', active_at: new Date().toISOString() });
    const ghost = `${prefix}:ghost`;
    await s.driver.createTarget(ghost);
    s.driver.login(ghost, info.initiatorIqn, '10.0.0.5');
    const r = await s.c.reconciler.run('test');
    expect(r.skipped).toEqual([ghost]);
    expect(r.orphanTargetsRemoved).toBe(0);
    expect(s.driver.targets.has(ghost)).toBe(true);
  });

  it('a CHAP account no target binds and no row names is deleted', async () => {
    s.driver.accountList.set('pc-9.sdeadbeef', 'x'.repeat(16));
    const r = await s.c.reconciler.run('test');
    expect(changes(r)).toEqual({ accountsRemoved: 1 });
    expect([...s.driver.accountList.keys()]).toEqual([info.chap.username]);
  });

  it('a live session whose target row is gone is ended, and its target leaves the host', async () => {
    const row = (await s.c.repos.targets.findByIqn(info.targetIqn))!;
    await s.c.repos.targets.delete(row.id);
    const r = await s.c.reconciler.run('test');
    expect(r.sessionsEnded).toBe(1);
    expect(await s.c.repos.sessions.findById(info.sessionId)).toMatchObject({
      state: 'ended',
      end_reason: 'error',
      error: 'its target is gone',
    });
    expect(s.driver.targets.size).toBe(0);
  });

  it('a target row of an ended session is removed from the host and the database', async () => {
    await s.c.repos.sessions.update(info.sessionId, { state: 'ended', end_reason: 'stopped' });
    const r = await s.c.reconciler.run('test');
    expect(r.targetsRemoved).toBe(1);
    expect(s.driver.targets.size).toBe(0);
    expect(await s.c.repos.targets.all()).toEqual([]);
  });

  it('a failing driver is reported in the pass and on the row, and the next pass repairs', async () => {
    s.driver.targets.clear();
    s.driver.failOn = 'create';
    const r1 = await s.c.reconciler.run('test');
    expect(r1.errors.join('\n')).toMatch(/injected failure: create/);
    expect((await s.c.repos.targets.findByIqn(info.targetIqn))?.state).toBe('error');
    s.driver.failOn = null;
    const r2 = await s.c.reconciler.run('test');
    expect(r2.errors).toEqual([]);
    expect(r2.targetsCreated).toBe(1);
    expect((await s.c.repos.targets.findByIqn(info.targetIqn))?.state).toBe('active');
  });
});
