import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  fileExists,
  smallContext,
  smallImage,
  smallMachine,
  writebackFile,
  type SmallContext,
} from '../helpers/small.js';

/** The target manager puts target rows onto the host (here: the fake driver), one IQN at a time. */
describe('target manager (fake iSCSI driver, SQLite in memory)', () => {
  let s: SmallContext;
  /** A live session's target row, its LUN file and its CHAP user. */
  let row: NonNullable<Awaited<ReturnType<SmallContext['c']['repos']['targets']['findById']>>>;
  let file: string;
  beforeEach(async () => {
    s = await smallContext();
    const img = await smallImage(s.c);
    const m = await smallMachine(s.c, img.imageId);
    const info = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    row = (await s.c.repos.targets.findByIqn(info.targetIqn))!;
    const wb = (await s.c.repos.writebacks.bySession(info.sessionId))[0]!;
    file = writebackFile(s.c, wb.path)!;
    expect(fileExists(file)).toBe(true);
  });
  afterEach(async () => s.close());

  it('specFor: the LUN is backed by the writeback file with a stable serial, ACL and CHAP from the row', async () => {
    const spec = await s.c.targetManager.specFor(row);
    expect(spec).toMatchObject({
      iqn: row.iqn,
      luns: [{ lun: 1, path: file }],
      initiatorIqn: row.initiator_iqn,
      allowedAddress: null,
      chap: { user: row.chap_user, secret: row.chap_secret },
      mutual: null,
    });
    expect(spec.luns[0]!.serial).toMatch(/^[0-9a-f]{16}$/);
    expect((await s.c.targetManager.specFor(row)).luns[0]!.serial).toBe(spec.luns[0]!.serial);
  });

  it('unprovision removes the target and its account; a second time is a no-op', async () => {
    await s.c.targetManager.unprovision(row.iqn);
    expect(s.driver.targets.has(row.iqn)).toBe(false);
    expect(s.driver.accountList.has(row.chap_user!)).toBe(false);
    await expect(s.c.targetManager.unprovision(row.iqn)).resolves.toBeUndefined();
  });

  it('provision replaces a left-over live target of the same name', async () => {
    await s.c.targetManager.unprovision(row.iqn);
    await s.driver.createTarget(row.iqn);
    await s.driver.addLun(row.iqn, { lun: 1, path: '/somewhere/else.raw', serial: 'x' });
    await s.c.targetManager.provision(row);
    expect(s.driver.targets.get(row.iqn)!.luns).toEqual([{ lun: 1, path: file }]);
    expect(s.driver.targets.get(row.iqn)!.chapUsers).toEqual([row.chap_user]);
  });

  it('repair: a missing target is created', async () => {
    s.driver.targets.delete(row.iqn);
    expect(await s.c.targetManager.drifted(row, undefined)).toBe(true);
    expect(await s.c.targetManager.repair(row, true)).toBe('created');
    expect(s.driver.targets.get(row.iqn)).toMatchObject({
      luns: [{ lun: 1, path: file }],
      initiators: [row.initiator_iqn],
      chapUsers: [row.chap_user],
    });
  });

  it('repair: drift (a lost LUN, a stranger in the ACL, a foreign CHAP user) is repaired in place', async () => {
    const live = s.driver.targets.get(row.iqn)!;
    live.luns = [];
    live.initiators.push('iqn.2000-01.com.example:intruder');
    await s.driver.setChap(
      row.iqn,
      row.initiator_iqn,
      { user: 'old.s00000000', secret: 'a'.repeat(16) },
      null,
    );
    expect(await s.c.targetManager.drifted(row, structuredClone(live))).toBe(true);
    expect(await s.c.targetManager.repair(row, true)).toBe('repaired');
    const after = s.driver.targets.get(row.iqn)!;
    expect(after.luns).toEqual([{ lun: 1, path: file }]);
    expect(after.initiators).toEqual([row.initiator_iqn]);
    expect(after.chapUsers).toEqual([row.chap_user]);
    expect(s.driver.accountList.has('old.s00000000')).toBe(false);
    // nothing left to do
    expect(await s.c.targetManager.drifted(row, structuredClone(after))).toBe(false);
    expect(await s.c.targetManager.repair(row, true)).toBe('none');
  });

  it('repair never changes a LUN under a logged-in client of a live session', async () => {
    s.driver.login(row.iqn, row.initiator_iqn, '10.0.0.5');
    s.driver.targets.get(row.iqn)!.luns = [{ lun: 1, path: '/wrong.raw' }];
    const before = s.driver.calls.length;
    expect(await s.c.targetManager.repair(row, true)).toBe('skipped-connected');
    expect(s.driver.targets.get(row.iqn)!.luns).toEqual([{ lun: 1, path: '/wrong.raw' }]);
    expect(s.driver.calls.slice(before)).toEqual(['list']);
  });

  it('removeOrphan removes only targets no row describes', async () => {
    expect(await s.c.targetManager.removeOrphan(row.iqn)).toBe(false);
    expect(s.driver.targets.has(row.iqn)).toBe(true);
    const ghost = `${row.iqn.split(':')[0]}:ghost`;
    await s.driver.createTarget(ghost);
    expect(await s.c.targetManager.removeOrphan(ghost)).toBe(true);
    expect(s.driver.targets.has(ghost)).toBe(false);
  });
});
