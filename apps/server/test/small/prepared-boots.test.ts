import { randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
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
 * Boots prepared before the PC asks (issue 12 point 2), through the real orchestrator, preparer,
 * reconciler and storage, with the fake iSCSI driver as the host: prepare, claim, undo.
 */
describe('prepared boots (fake iSCSI driver, SQLite in memory)', () => {
  let s: SmallContext;
  let img: SeededImage;
  beforeEach(async () => {
    s = await smallContext();
    img = await smallImage(s.c);
  });
  afterEach(async () => {
    s.c.bootPreparer.stop();
    await s.c.bootPreparer.idle();
    await s.close();
  });

  const prepared = (machineId: string) => s.c.repos.preparedBoots.findByMachine(machineId);

  it('prepare: writeback, target with LUN, ACL and an account of its own, under the future session id; no session yet', async () => {
    const m = await smallMachine(s.c, img.imageId);
    expect(await s.c.orchestrator.prepare(m.id)).toBe('prepared');
    const p = (await prepared(m.id))!;
    expect(p).toMatchObject({ state: 'ready', machine_id: m.id });
    expect(await s.c.repos.sessions.findById(p.session_id)).toBeUndefined();
    expect(await s.c.repos.sessions.liveForMachine(m.id)).toBeUndefined();

    const row = (await s.c.repos.targets.findById(p.target_id!))!;
    expect(row).toMatchObject({ state: 'active', session_id: p.session_id });
    const live = s.driver.targets.get(row.iqn)!;
    const [wb] = await s.c.repos.writebacks.bySession(p.session_id);
    expect(wb).toMatchObject({ state: 'ready', target_id: row.id, version_id: img.versionId });
    expect(live.luns).toEqual([{ lun: 1, path: writebackFile(s.c, wb!.path) }]);
    expect(live.initiators).toEqual([m.initiatorIqn]);
    expect(live.chapUsers).toEqual([`pc-1.s${p.session_id.replace(/-/g, '').slice(0, 8)}`]);
    expect(s.driver.accountList.get(row.chap_user!)).toBe(row.chap_secret);

    // idempotent: a second call changes nothing on the host
    const calls = s.driver.calls.length;
    expect(await s.c.orchestrator.prepare(m.id)).toBe('ready');
    expect(s.driver.calls.length).toBe(calls);

    // the API never shows the secret of a boot nobody has claimed, not even to an admin
    const view = await s.c.targets.get(row.id, true);
    expect(view.chapSecret).toBeUndefined();
  });

  it('claim: the boot gets the prepared target and secret with no request to the host; the row is gone', async () => {
    const m = await smallMachine(s.c, img.imageId);
    await s.c.orchestrator.prepare(m.id);
    const p = (await prepared(m.id))!;
    const row = (await s.c.repos.targets.findById(p.target_id!))!;
    const calls = s.driver.calls.length;

    const info = await s.c.orchestrator.startSession({
      machineId: m.id,
      mode: 'normal',
      clientIp: '10.0.0.5',
    });
    expect(s.driver.calls.slice(calls)).toEqual([]);
    expect(info).toMatchObject({
      sessionId: p.session_id,
      targetIqn: row.iqn,
      chap: { username: row.chap_user, password: row.chap_secret },
      luns: [{ lun: 1, kind: 'boot', imageId: img.imageId, versionId: img.versionId }],
    });
    expect(await prepared(m.id)).toBeUndefined();
    expect(await s.c.repos.sessions.findById(p.session_id)).toMatchObject({
      state: 'ready',
      target_id: row.id,
      client_ip: '10.0.0.5',
      version_id: img.versionId,
    });
    // once claimed, the secret is the session's like any other (admins may see it)
    expect((await s.c.targets.get(row.id, true)).chapSecret).toBe(row.chap_secret);

    // the session ends: the target, its account and the writeback go as for any session
    await s.c.orchestrator.endSession(info.sessionId, 'stopped');
    expect(s.driver.targets.size).toBe(0);
    expect(s.driver.accountList.size).toBe(0);
  });

  it('the reconciler keeps a prepared target, and makes it again after a tgtd restart', async () => {
    const m = await smallMachine(s.c, img.imageId);
    await s.c.orchestrator.prepare(m.id);
    const p = (await prepared(m.id))!;
    const r1 = await s.c.reconciler.run('test');
    expect(r1.errors).toEqual([]);
    expect([r1.targetsRemoved, r1.orphanTargetsRemoved, r1.accountsRemoved, r1.writebacksDiscarded]).toEqual([
      0, 0, 0, 0,
    ]);
    expect(s.driver.targets.size).toBe(1);

    s.driver.targets.clear();
    s.driver.accountList.clear();
    const r2 = await s.c.reconciler.run('tgtd restarted');
    expect(r2.targetsCreated).toBe(1);
    const row = (await s.c.repos.targets.findById(p.target_id!))!;
    expect(s.driver.targets.get(row.iqn)!.chapUsers).toEqual([row.chap_user]);
    expect(s.driver.accountList.get(row.chap_user!)).toBe(row.chap_secret);
  });

  it('undo: a change of image, extra disks or mode removes the stale preparation cleanly', async () => {
    const other = await smallImage(s.c, 'linux');
    const m = await smallMachine(s.c, img.imageId);
    await s.c.orchestrator.prepare(m.id);
    const first = (await prepared(m.id))!;
    const [firstWb] = await s.c.repos.writebacks.bySession(first.session_id);
    const firstUser = (await s.c.repos.targets.findById(first.target_id!))!.chap_user!;

    // extra disk: made again with two LUNs
    await s.c.machines.update(m.id, { extraImageIds: [other.imageId] });
    expect(await s.c.orchestrator.prepare(m.id)).toBe('prepared');
    const second = (await prepared(m.id))!;
    expect(second.session_id).not.toBe(first.session_id);
    expect(await s.c.repos.targets.bySession(first.session_id)).toEqual([]);
    expect(s.driver.accountList.has(firstUser)).toBe(false);
    expect((await s.c.repos.writebacks.findById(firstWb!.id))!.state).toMatch(/discard/);
    const live = [...s.driver.targets.values()];
    expect(live).toHaveLength(1);
    expect(live[0]!.luns.map((l) => l.lun)).toEqual([1, 2]);

    // a claim of a preparation that no longer matches the machine is refused: the boot is built anew
    await s.c.repos.machines.update(m.id, { extra_image_ids: '[]' });
    const info = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    expect(info.sessionId).not.toBe(second.session_id);
    expect(info.luns).toHaveLength(1);
    expect(await prepared(m.id)).toBeUndefined();
    expect(s.driver.targets.size).toBe(1);
    await s.c.orchestrator.endSession(info.sessionId, 'stopped');

    // maintenance mode: nothing is prepared, and a preparation goes
    await s.c.orchestrator.prepare(m.id);
    expect(await prepared(m.id)).toBeDefined();
    await s.c.machines.update(m.id, { bootMode: 'maintenance' });
    expect(await s.c.orchestrator.prepare(m.id)).toBe('undone');
    expect(await prepared(m.id)).toBeUndefined();
    expect(s.driver.targets.size).toBe(0);
    expect(s.driver.accountList.size).toBe(0);
    expect((await s.c.repos.writebacks.live()).filter((w) => w.state === 'ready')).toEqual([]);
  });

  it('the preparer: a new machine, a session that ends and a published version lead to a prepared boot', async () => {
    s.c.bootPreparer.start();
    const m = await smallMachine(s.c, img.imageId);
    await s.c.bootPreparer.idle();
    const p1 = (await prepared(m.id))!;
    expect(p1.state).toBe('ready');

    // booted (claimed), then stopped: the next boot is prepared at once, with a new secret
    const info = await s.c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null });
    expect(info.sessionId).toBe(p1.session_id);
    await s.c.bootPreparer.idle();
    expect(await prepared(m.id)).toBeUndefined(); // a live session has none
    await s.c.orchestrator.endSession(info.sessionId, 'stopped');
    await s.c.bootPreparer.idle();
    const p2 = (await prepared(m.id))!;
    expect(p2.session_id).not.toBe(p1.session_id);
    const t2 = (await s.c.repos.targets.findById(p2.target_id!))!;
    expect(t2.chap_secret).not.toBe(info.chap.password);

    // a new version of the image is published: the preparation is made again on it
    const v2 = randomUUID();
    const rel = s.c.imageFiles.versionRelPath(img.imageId, v2);
    copyFileSync(img.file, s.c.imageFiles.inside(rel));
    const now = new Date().toISOString();
    await s.c.repos.images.insertVersion({
      id: v2,
      image_id: img.imageId,
      number: 2,
      state: 'ready',
      comment: 'v2',
      author: 'test',
      size_bytes: img.sizeBytes,
      sha256: null,
      protected: 0,
      parent_version_id: img.versionId,
      path: rel,
      error: null,
      created_at: now,
      ready_at: now,
    });
    await s.c.images.publishVersion(img.imageId, v2);
    await s.c.bootPreparer.idle();
    const p3 = (await prepared(m.id))!;
    expect(p3.session_id).not.toBe(p2.session_id);
    expect(await s.c.repos.targets.bySession(p2.session_id)).toEqual([]);
    const [wb3] = await s.c.repos.writebacks.bySession(p3.session_id);
    expect(wb3!.version_id).toBe(v2);
    expect(s.driver.targets.size).toBe(1);
  });

  it('deleting a machine takes its preparation along; the reconciler removes the target and the file', async () => {
    const m = await smallMachine(s.c, img.imageId);
    await s.c.orchestrator.prepare(m.id);
    const p = (await prepared(m.id))!;
    const [wb] = await s.c.repos.writebacks.bySession(p.session_id);
    const file = writebackFile(s.c, wb!.path);
    expect(fileExists(file)).toBe(true);
    await s.c.machines.delete(m.id);
    expect(await prepared(m.id)).toBeUndefined();
    const r = await s.c.reconciler.run('machine deleted');
    expect(r.targetsRemoved).toBe(1);
    expect(s.driver.targets.size).toBe(0);
    expect(s.driver.accountList.size).toBe(0);
  });
});
