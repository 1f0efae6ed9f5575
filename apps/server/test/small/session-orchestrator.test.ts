import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeededImage } from '../helpers/iscsi.js';
import {
  fileExists,
  smallContext,
  smallImage,
  smallMachine,
  writebackFile,
  type SmallContext,
} from '../helpers/small.js';

/**
 * Session start and end through the real orchestrator, target manager and storage service, with the
 * fake iSCSI driver as the host: what the database says and what the "host" has must agree.
 */
describe('session orchestrator (fake iSCSI driver, SQLite in memory)', () => {
  let s: SmallContext;
  let img: SeededImage;
  beforeEach(async () => {
    s = await smallContext();
    img = await smallImage(s.c);
  });
  afterEach(async () => s.close());

  it('start: a writeback, a target with its LUN, ACL and a CHAP account of its own; the answer names them', async () => {
    const m = await smallMachine(s.c, img.imageId);
    const info = await s.c.orchestrator.startSession({
      machineId: m.id,
      mode: 'normal',
      clientIp: '10.0.0.5',
    });

    const session = await s.c.repos.sessions.findById(info.sessionId);
    expect(session).toMatchObject({ state: 'ready', machine_id: m.id, version_id: img.versionId });
    const wb = await s.c.repos.writebacks.findById(session!.writeback_id!);
    expect(wb).toMatchObject({ state: 'ready', session_id: info.sessionId, target_id: session!.target_id });
    const file = writebackFile(s.c, wb!.path);
    expect(fileExists(file)).toBe(true);

    const row = await s.c.repos.targets.findById(session!.target_id!);
    expect(row).toMatchObject({ state: 'active', iqn: info.targetIqn, session_id: info.sessionId });
    const live = s.driver.targets.get(info.targetIqn);
    expect(live).toBeDefined();
    expect(live!.luns).toEqual([{ lun: 1, path: file }]);
    expect(live!.initiators).toEqual([m.initiatorIqn]);
    expect(live!.chapUsers).toEqual([info.chap.username]);
    expect(s.driver.accountList.get(info.chap.username)).toBe(info.chap.password);

    expect(info).toMatchObject({
      state: 'ready',
      portalHost: s.portal.host,
      portalPort: s.portal.port,
      initiatorIqn: m.initiatorIqn,
      luns: [{ lun: 1, kind: 'boot', imageId: img.imageId, versionId: img.versionId }],
      reverseChap: null,
    });
    expect(info.chap.username).toBe(`pc-1.s${info.sessionId.replace(/-/g, '').slice(0, 8)}`);
  });

  it('a fixed-IP machine gets a target bound to its address, not to its initiator name', async () => {
    const m = await smallMachine(s.c, img.imageId, { ip: '10.0.0.77' });
    const info = await s.c.orchestrator.startSession({
      machineId: m.id,
      mode: 'normal',
      clientIp: '10.0.0.77',
    });
    const live = s.driver.targets.get(info.targetIqn)!;
    expect(live.addresses).toEqual(['10.0.0.77']);
    expect(live.initiators).toEqual([]);
  });

  it('end: the target, its account and the writeback are removed; the session is ended', async () => {
    const m = await smallMachine(s.c, img.imageId);
    const info = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    const session = await s.c.repos.sessions.findById(info.sessionId);
    const wb = await s.c.repos.writebacks.findById(session!.writeback_id!);
    const file = writebackFile(s.c, wb!.path);

    expect(await s.c.orchestrator.endSession(info.sessionId, 'stopped')).toBe(true);
    expect(s.driver.targets.size).toBe(0);
    expect(s.driver.accountList.size).toBe(0);
    expect(await s.c.repos.targets.all()).toEqual([]);
    expect(await s.c.repos.writebacks.findById(wb!.id)).toMatchObject({ state: 'discarded' });
    expect(fileExists(file)).toBe(false);
    expect(await s.c.repos.sessions.findById(info.sessionId)).toMatchObject({
      state: 'ended',
      end_reason: 'stopped',
    });
    // ending twice changes nothing
    const calls = s.driver.calls.length;
    expect(await s.c.orchestrator.endSession(info.sessionId, 'stopped')).toBe(false);
    expect(s.driver.calls.length).toBe(calls);
  });

  it('a keep-writeback machine keeps its disk when the session ends', async () => {
    const m = await smallMachine(s.c, img.imageId, { keepWriteback: true });
    const info = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    const wbId = (await s.c.repos.sessions.findById(info.sessionId))!.writeback_id!;
    await s.c.orchestrator.endSession(info.sessionId, 'stopped');
    const wb = await s.c.repos.writebacks.findById(wbId);
    expect(wb).toMatchObject({ state: 'kept' });
    expect(fileExists(writebackFile(s.c, wb!.path))).toBe(true);
    expect(s.driver.targets.size).toBe(0);
  });

  it('a second boot of the machine ends the first session: one live target, the old account gone', async () => {
    const m = await smallMachine(s.c, img.imageId);
    const first = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    const second = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    expect(second.sessionId).not.toBe(first.sessionId);
    expect(await s.c.repos.sessions.findById(first.sessionId)).toMatchObject({
      state: 'ended',
      end_reason: 'rebooted',
    });
    expect([...s.driver.targets.keys()]).toEqual([second.targetIqn]);
    expect([...s.driver.accountList.keys()]).toEqual([second.chap.username]);
    expect((await s.c.repos.targets.all()).map((t) => t.session_id)).toEqual([second.sessionId]);
  });

  for (const step of ['chap', 'bind', 'lun']) {
    it(`a failure mid-start (driver step "${step}") rolls everything back`, async () => {
      const m = await smallMachine(s.c, img.imageId);
      s.driver.failOn = step;
      await expect(
        s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null }),
      ).rejects.toThrow(/injected failure/);
      // the target was created on the host, then removed again
      expect(s.driver.calls.some((c) => c.startsWith('create '))).toBe(true);
      expect(s.driver.targets.size).toBe(0);
      expect(s.driver.accountList.size).toBe(0);
      expect(await s.c.repos.targets.all()).toEqual([]);
      const [session] = (await s.c.repos.sessions.list({ limit: 10, offset: 0 })).items;
      expect(session).toMatchObject({ state: 'ended', end_reason: 'error' });
      expect(session!.error).toMatch(/injected failure/);
      const wbs = await s.c.repos.writebacks.bySession(session!.id);
      expect(wbs).toHaveLength(1);
      expect(wbs[0]).toMatchObject({ state: 'discarded' });
      expect(fileExists(writebackFile(s.c, wbs[0]!.path))).toBe(false);
      expect(await s.c.repos.sessions.liveForMachine(m.id)).toBeUndefined();

      // the host recovers: the next boot works
      s.driver.failOn = null;
      const info = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
      expect([...s.driver.targets.keys()]).toEqual([info.targetIqn]);
    });
  }

  it('refuses pending and disabled machines and images without a published version, with nothing made', async () => {
    const pending = await s.c.machines.create({
      name: 'pc-p',
      mac: '52:54:00:00:00:0a',
      bootImageId: img.imageId,
    });
    await s.c.repos.machines.update(pending.id, { pending: 1 });
    await expect(
      s.c.orchestrator.startSession({ machineId: pending.id, mode: 'normal', clientIp: null }),
    ).rejects.toMatchObject({ code: 'machine_pending' });
    const off = await smallMachine(s.c, img.imageId, { name: 'pc-off', mac: '52:54:00:00:00:0b' });
    await s.c.machines.update(off.id, { enabled: false });
    await expect(
      s.c.orchestrator.startSession({ machineId: off.id, mode: 'normal', clientIp: null }),
    ).rejects.toMatchObject({ code: 'machine_disabled' });
    const none = await smallMachine(s.c, null, { name: 'pc-none', mac: '52:54:00:00:00:0c' });
    await expect(
      s.c.orchestrator.startSession({ machineId: none.id, mode: 'normal', clientIp: null }),
    ).rejects.toMatchObject({ code: 'no_boot_image' });
    expect(s.driver.targets.size).toBe(0);
    expect(await s.c.repos.writebacks.live()).toEqual([]);
  });
});
