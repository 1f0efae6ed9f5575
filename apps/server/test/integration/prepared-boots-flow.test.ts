import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FakeDnsmasq } from '../../src/adapters/dnsmasq/dnsmasq.fake.js';
import { FakeIscsiDriver } from '../../src/adapters/iscsi/iscsi-target.fake.js';
import { FakeQemuStorageDaemon } from '../../src/adapters/qsd/qsd.fake.js';
import { seedImage, type SeededImage } from '../helpers/iscsi.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

/**
 * Boots prepared before the PC asks (issue 12 point 2) through the whole app on both dialects: the
 * background preparer (registration, session end, publish, group and ring changes), undo on a
 * change of what the machine boots, install mode, the claim over HTTP by two requests at once, and
 * the reconciler. The host is the fake iSCSI driver (the system tier runs real tgtd).
 */
describeEachDialect('prepared boots: the flow', (dialect) => {
  let t: TestContext;
  let driver: FakeIscsiDriver;
  let h: Record<string, string>;
  let img: SeededImage;

  beforeEach(async () => {
    driver = new FakeIscsiDriver();
    t = await createTestContext(dialect, {
      container: { iscsiDriver: driver, dnsmasq: new FakeDnsmasq(), qsd: new FakeQemuStorageDaemon() },
    });
    await t.container.settings.update(
      {
        iscsi: { portal: '127.0.0.1:3260' },
        storage: { backend: 'copy', reserveBytes: 0, spareClones: 0 },
        boot: { preparePaceMs: 0 },
      },
      null,
    );
    h = await t.auth('operator');
    img = await seedImage(t.container, 'win11', { sizeMiB: 1, dataMiB: 0 });
    t.container.bootPreparer.start();
  });
  afterEach(async () => {
    t.container.bootPreparer.stop();
    await t.container.bootPreparer.idle();
    await t.close();
  });

  const c = () => t.container;
  const idle = () => c().bootPreparer.idle();
  const prepared = (machineId: string) => c().repos.preparedBoots.findByMachine(machineId);
  const ok = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) => {
    const r = await t.app.inject({
      method,
      url,
      headers: h,
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.statusCode === 204 ? null : r.json();
  };
  const boot = (mac: string, ip = '10.0.0.50') =>
    t.app.inject({
      method: 'GET',
      url: `/boot/ipxe?mac=${encodeURIComponent(mac)}&arch=x86_64&platform=efi`,
      remoteAddress: ip,
      headers: { host: '10.0.0.1:8080' },
    });
  /** The writebacks and target of a prepared boot (and that the host has that target). */
  async function madeFor(p: { session_id: string; target_id: string | null }) {
    const target = (await c().repos.targets.findById(p.target_id!))!;
    const wbs = await c().repos.writebacks.bySession(p.session_id);
    return { target, wbs, onHost: driver.targets.get(target.iqn) };
  }
  /** A preparation is gone without a trace: no target row, no target or account on the host. */
  async function undone(p: { session_id: string; target_id: string | null }, user: string) {
    expect(await c().repos.targets.bySession(p.session_id)).toEqual([]);
    expect(driver.accountList.has(user)).toBe(false);
    for (const w of await c().repos.writebacks.bySession(p.session_id)) expect(w.state).toMatch(/discard/);
  }
  async function publishNewVersion(imageId: string, number: number) {
    const v = randomUUID();
    const rel = c().imageFiles.versionRelPath(imageId, v);
    const base = (await c().repos.images.findVersionById(img.versionId))!;
    const { copyFileSync } = await import('node:fs');
    copyFileSync(c().imageFiles.inside(base.path!), c().imageFiles.inside(rel));
    const now = new Date().toISOString();
    await c().repos.images.insertVersion({
      id: v,
      image_id: imageId,
      number,
      state: 'ready',
      comment: `v${number}`,
      author: 'test',
      size_bytes: base.size_bytes,
      sha256: null,
      protected: 0,
      parent_version_id: base.id,
      path: rel,
      error: null,
      created_at: now,
      ready_at: now,
    });
    return v;
  }

  it('registration, session end and a publish prepare the next boot; the boot only claims it (no host request)', async () => {
    // a machine registered by its first boot request (auto) is prepared in the background
    await c().settings.update({ machines: { autoRegister: 'auto', defaultImageId: img.imageId } }, null);
    const mac = '52:54:00:18:00:01';
    const first = await boot(mac);
    expect(first.headers['x-ggnet-boot-result']).toBe('boot');
    const m = (await c().repos.machines.findByMac(mac))!;
    const s1 = (await c().repos.sessions.liveForMachine(m.id))!;
    await idle();
    expect(await prepared(m.id)).toBeUndefined(); // a live session has none

    // the session ends: the next boot is made at once, with a CHAP account of its own
    await c().orchestrator.endSession(s1.id, 'stopped');
    await idle();
    const p = (await prepared(m.id))!;
    expect(p.state).toBe('ready');
    const { target, wbs, onHost } = await madeFor(p);
    expect(wbs.map((w) => [w.state, w.version_id])).toEqual([['ready', img.versionId]]);
    expect(onHost!.chapUsers).toEqual([target.chap_user]);

    // the boot request only reads the database: no request to the host while the PC waits
    const calls = driver.calls.length;
    const claimedBefore = c().orchestrator.startsByKind.prepared;
    const r = await boot(mac);
    expect(r.headers['x-ggnet-boot-result']).toBe('boot');
    expect(driver.calls.slice(calls)).toEqual([]);
    expect(r.body).toContain(target.iqn);
    expect(r.body).toContain(target.chap_secret!);
    expect(await prepared(m.id)).toBeUndefined();
    expect(await c().repos.sessions.findById(p.session_id)).toMatchObject({ state: 'ready' });
    expect(c().orchestrator.startsByKind.prepared).toBe(claimedBefore + 1);

    // a version published: every machine is prepared again on it
    const live = (await c().repos.sessions.liveForMachine(m.id))!;
    await c().orchestrator.endSession(live.id, 'stopped');
    await idle();
    const before = (await prepared(m.id))!;
    const beforeUser = (await c().repos.targets.findById(before.target_id!))!.chap_user!;
    const v2 = await publishNewVersion(img.imageId, 2);
    await c().images.publishVersion(img.imageId, v2);
    await idle();
    const after = (await prepared(m.id))!;
    expect(after.session_id).not.toBe(before.session_id);
    expect((await madeFor(after)).wbs.map((w) => w.version_id)).toEqual([v2]);
    await undone(before, beforeUser);
    expect(driver.targets.size).toBe(1);
  });

  it('undo and prepare again on a change of image, extra disks, mode, group settings and ring release', async () => {
    const other = await seedImage(c(), 'tools', { sizeMiB: 1, dataMiB: 0 });
    const m = await ok('POST', '/api/v1/machines', {
      name: 'pc-u',
      mac: '52:54:00:18:00:02',
      bootImageId: img.imageId,
    });
    await idle();
    const step = async (change: () => Promise<unknown>, expectPrepared: boolean) => {
      const p = (await prepared(m.id))!;
      const user = (await c().repos.targets.findById(p.target_id!))!.chap_user!;
      await change();
      await idle();
      await undone(p, user);
      const next = await prepared(m.id);
      if (expectPrepared) {
        expect(next?.state).toBe('ready');
        expect(next!.session_id).not.toBe(p.session_id);
      } else expect(next).toBeUndefined();
      return next;
    };
    expect((await prepared(m.id))?.state).toBe('ready');

    // extra disk: two LUNs on the new target
    let p = await step(
      () => ok('PATCH', `/api/v1/machines/${m.id}`, { extraImageIds: [other.imageId] }),
      true,
    );
    expect((await madeFor(p!)).onHost!.luns.map((l) => l.lun)).toEqual([1, 2]);
    // image: the boot disk is the other image now
    p = await step(
      () => ok('PATCH', `/api/v1/machines/${m.id}`, { bootImageId: other.imageId, extraImageIds: [] }),
      true,
    );
    expect((await madeFor(p!)).wbs.map((w) => w.image_id)).toEqual([other.imageId]);

    // group: the machine inherits its image from a group; a change of the group's image re-prepares
    const g = await ok('POST', '/api/v1/groups', { name: 'Hall', bootImageId: img.imageId });
    p = await step(() => ok('PATCH', `/api/v1/machines/${m.id}`, { groupId: g.id, bootImageId: null }), true);
    expect((await madeFor(p!)).wbs.map((w) => w.image_id)).toEqual([img.imageId]);
    p = await step(() => ok('PATCH', `/api/v1/groups/${g.id}`, { bootImageId: other.imageId }), true);
    expect((await madeFor(p!)).wbs.map((w) => w.image_id)).toEqual([other.imageId]);

    // a ring release of a new version to the group: its machines are prepared on that version
    const v2 = await publishNewVersion(other.imageId, 2);
    p = await step(
      () => ok('POST', `/api/v1/images/${other.imageId}/release`, { versionId: v2, groupIds: [g.id] }),
      true,
    );
    expect((await madeFor(p!)).wbs.map((w) => w.version_id)).toEqual([v2]);
    // rollback of the ring: back on the published version
    p = await step(
      () => ok('POST', `/api/v1/images/${other.imageId}/release/rollback`, { versionId: v2 }),
      true,
    );
    expect((await madeFor(p!)).wbs.map((w) => w.version_id)).toEqual([other.versionId]);

    // keep-writeback inherited from the group: no prepared (fresh) boot any more
    await step(() => ok('PATCH', `/api/v1/groups/${g.id}`, { keepWriteback: true }), false);
    expect(driver.targets.size).toBe(0);
    expect(driver.accountList.size).toBe(0);
  });

  it('install mode (maintenance with an install medium) is never prepared; its boot is built and hooks the ISO', async () => {
    const mediaId = randomUUID();
    await c()
      .database.db.insertInto('media')
      .values({
        id: mediaId,
        name: 'netinst',
        filename: 'netinst.iso',
        size_bytes: 2048,
        sha256: '0'.repeat(64),
        path: `media/${mediaId}.iso`,
        created_by: null,
        created_at: new Date().toISOString(),
      })
      .execute();
    const m = await ok('POST', '/api/v1/machines', {
      name: 'pc-i',
      mac: '52:54:00:18:00:03',
      bootImageId: img.imageId,
    });
    await idle();
    const p = (await prepared(m.id))!;
    const user = (await c().repos.targets.findById(p.target_id!))!.chap_user!;
    await ok('PATCH', `/api/v1/machines/${m.id}`, { bootMode: 'maintenance', installMediaId: mediaId });
    await idle();
    await undone(p, user);
    expect(await prepared(m.id)).toBeUndefined();
    expect(await c().orchestrator.prepare(m.id)).toBe('not_eligible');

    const r = await boot('52:54:00:18:00:03');
    expect(r.headers['x-ggnet-boot-result']).toBe('boot');
    expect(r.body).toContain(`/boot/media/${mediaId}.iso`);
    expect(r.body).toMatch(/sanhook/);
    expect(c().orchestrator.startsByKind.prepared).toBe(0);
    const s = (await c().repos.sessions.liveForMachine(m.id))!;
    expect(s.mode).toBe('maintenance');
    expect(s.id).not.toBe(p.session_id);
  });

  it('two boot requests of one prepared machine at once: one claim, one session, no host request', async () => {
    const m = await ok('POST', '/api/v1/machines', {
      name: 'pc-c',
      mac: '52:54:00:18:00:04',
      bootImageId: img.imageId,
    });
    await idle();
    const p = (await prepared(m.id))!;
    await c().reconciler.run('test'); // the pass the settings change asked for, now and not mid-boot
    const calls = driver.calls.length;
    const [a, b] = await Promise.all([boot('52:54:00:18:00:04'), boot('52:54:00:18:00:04')]);
    expect([a.headers['x-ggnet-boot-result'], b.headers['x-ggnet-boot-result']]).toEqual(['boot', 'boot']);
    // nothing made or changed on the host; the later request's boot guard may read the live list
    // (has an initiator logged in to the session the first one got? no: the same script again)
    expect(driver.calls.slice(calls).filter((x) => x !== 'list')).toEqual([]);
    const sessions = await c().repos.sessions.list({ limit: 50, offset: 0, machineId: m.id });
    expect(sessions.items.map((s) => s.id)).toEqual([p.session_id]);
    expect(c().orchestrator.startsByKind).toMatchObject({ prepared: 1, cold: 0 });
    const target = (await c().repos.targets.findById(p.target_id!))!;
    for (const r of [a, b]) expect(r.body).toContain(target.chap_secret!);

    // and directly on the orchestrator, past the boot endpoint's coalescing: still one claim
    const live = (await c().repos.sessions.liveForMachine(m.id))!;
    await c().orchestrator.endSession(live.id, 'stopped');
    await idle();
    const p2 = (await prepared(m.id))!;
    const infos = await Promise.all(
      [1, 2].map(() => c().orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: null })),
    );
    // the machine lock serialises them: the first claims, the second reboots it (built anew)
    expect(infos[0]!.sessionId).toBe(p2.session_id);
    expect(infos[1]!.sessionId).not.toBe(p2.session_id);
    expect((await c().repos.sessions.live()).filter((s) => s.machine_id === m.id)).toHaveLength(1);
  });

  it('the reconciler knows prepared targets: keeps them, makes them again after a tgtd restart, drops orphans', async () => {
    const m = await ok('POST', '/api/v1/machines', {
      name: 'pc-r',
      mac: '52:54:00:18:00:05',
      bootImageId: img.imageId,
    });
    await idle();
    const p = (await prepared(m.id))!;
    const target = (await c().repos.targets.findById(p.target_id!))!;
    const r1 = await c().reconciler.run('test');
    expect(r1.errors).toEqual([]);
    expect([r1.targetsRemoved, r1.orphanTargetsRemoved, r1.writebacksDiscarded]).toEqual([0, 0, 0]);
    expect(driver.targets.has(target.iqn)).toBe(true);

    driver.targets.clear();
    driver.accountList.clear();
    const r2 = await c().reconciler.run('tgtd restarted');
    expect(r2.targetsCreated).toBe(1);
    expect(driver.targets.get(target.iqn)!.chapUsers).toEqual([target.chap_user]);
    expect(driver.accountList.get(target.chap_user!)).toBe(target.chap_secret);

    // the row gone (as after a crash between the undo's steps): the target is an orphan now
    await c().repos.preparedBoots.remove(m.id, p.session_id);
    const r3 = await c().reconciler.run('test');
    expect(r3.targetsRemoved + r3.orphanTargetsRemoved).toBe(1);
    expect(driver.targets.size).toBe(0);
  });
});
