import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeededImage } from '../helpers/iscsi.js';
import { smallContext, smallImage, smallMachine, type SmallContext } from '../helpers/small.js';

const BASE = 'http://10.0.0.1:8080';
const MAC = '52:54:00:12:34:56';

/**
 * What the boot service answers a PXE client (GET /boot/ipxe), with the real orchestrator behind it
 * and the fake iSCSI driver as the host: known, pending and unknown machines under each
 * machines.autoRegister policy.
 */
describe('boot service (real orchestrator, fake iSCSI driver, SQLite in memory)', () => {
  let s: SmallContext;
  let img: SeededImage;
  const script = (mac: string, clientIp = '10.0.0.50') =>
    s.c.boot.script({ mac, arch: 'x86_64', platform: 'efi', clientIp, baseUrl: BASE });
  const created = () => s.driver.calls.filter((c) => c.startsWith('create '));
  beforeEach(async () => {
    s = await smallContext();
    img = await smallImage(s.c, 'Win 11');
  });
  afterEach(async () => s.close());

  it('a known machine with a published image gets a sanboot script for the target its boot made', async () => {
    const m = await smallMachine(s.c, img.imageId, { mac: MAC });
    const r = await script(MAC);
    expect(r.result).toBe('boot');
    expect(r.sessionId).toBeDefined();
    const session = await s.c.repos.sessions.findById(r.sessionId!);
    expect(session).toMatchObject({ machine_id: m.id, state: 'ready', client_ip: '10.0.0.50' });
    const row = (await s.c.repos.targets.findById(session!.target_id!))!;
    const live = s.driver.targets.get(row.iqn)!;
    expect(live.chapUsers).toEqual([row.chap_user]);
    expect(r.script).toMatch(/^#!ipxe\n/);
    expect(r.script).toContain(`set initiator-iqn ${m.initiatorIqn}`);
    expect(r.script).toContain(`set username ${row.chap_user}`);
    expect(r.script).toContain(`set password ${row.chap_secret}`);
    expect(r.script).toContain(`sanboot iscsi:127.0.0.1::3260:1:${row.iqn}`);
    expect(r.script).toContain('Win 11');
  });

  it('a pending machine waits for approval: a script that asks again, no session, nothing on the host', async () => {
    const m = await smallMachine(s.c, img.imageId, { mac: MAC });
    await s.c.repos.machines.update(m.id, { pending: 1 });
    const r = await script(MAC);
    expect(r.result).toBe('pending');
    expect(r.sessionId).toBeUndefined();
    expect(r.script).toContain('waiting for approval');
    expect(r.script).toContain(`chain --replace --autofree ${BASE}/boot/ipxe?mac=`);
    expect(created()).toEqual([]);
    expect(await s.c.repos.sessions.liveForMachine(m.id)).toBeUndefined();
  });

  it('unknown MAC, autoRegister off: the local disk, nothing stored', async () => {
    await s.c.settings.update({ machines: { autoRegister: 'off' } }, null);
    const r = await script(MAC);
    expect(r.result).toBe('unknown');
    expect(r.script.trim().split('\n').at(-1)).toBe('exit 1');
    expect(await s.c.machines.findByMac(MAC)).toBeNull();
    expect(created()).toEqual([]);
  });

  it('unknown MAC, autoRegister pending: registered as pending (pc-1), waits; asking again registers nothing more', async () => {
    await s.c.settings.update({ machines: { autoRegister: 'pending', defaultImageId: img.imageId } }, null);
    const r = await script(MAC);
    expect(r.result).toBe('pending');
    expect(await s.c.machines.findByMac(MAC)).toMatchObject({ name: 'pc-1', pending: true });
    expect((await script(MAC)).result).toBe('pending');
    expect((await s.c.machines.list({ limit: 10, offset: 0 })).total).toBe(1);
    expect(created()).toEqual([]);
  });

  it('unknown MAC, autoRegister auto: registered with the default image and booted at once', async () => {
    await smallMachine(s.c, null, { name: 'pc-7', mac: '52:54:00:00:00:07' });
    await s.c.settings.update({ machines: { autoRegister: 'auto', defaultImageId: img.imageId } }, null);
    const r = await script(MAC);
    expect(r.result).toBe('boot');
    const m = await s.c.machines.findByMac(MAC);
    // numbered after the highest existing one
    expect(m).toMatchObject({ name: 'pc-8', pending: false, bootImageId: null });
    // the default image, by inheritance
    expect(m!.effective.bootImageId).toEqual({ value: img.imageId, source: 'default' });
    const session = await s.c.repos.sessions.findById(r.sessionId!);
    expect(session).toMatchObject({ machine_id: m!.id, state: 'ready' });
    expect(created()).toHaveLength(1);
    expect(r.script).toContain(`sanboot iscsi:127.0.0.1::3260:1:${created()[0]!.slice('create '.length)}`);
  });

  it('disabled machines and machines without an image boot their local disk; no session is made', async () => {
    const off = await smallMachine(s.c, img.imageId, { mac: MAC });
    await s.c.machines.update(off.id, { enabled: false });
    expect((await script(MAC)).result).toBe('disabled');
    const none = await smallMachine(s.c, null, { name: 'pc-2', mac: '52:54:00:00:00:02' });
    expect((await script('52:54:00:00:00:02', '10.0.0.51')).result).toBe('no_image');
    expect(created()).toEqual([]);
    expect(await s.c.repos.sessions.liveForMachine(none.id)).toBeUndefined();
  });

  it('a session that cannot start: a readable screen that retries; nothing is left on the host', async () => {
    await smallMachine(s.c, img.imageId, { mac: MAC });
    s.driver.failOn = 'chap';
    const r = await script(MAC);
    expect(r.result).toBe('error');
    expect(r.script).toMatch(/^#!ipxe\n/);
    expect(r.script).toContain(`${BASE}/boot/ipxe?mac=`);
    expect(s.driver.targets.size).toBe(0);
    expect(await s.c.repos.targets.all()).toEqual([]);
  });

  it('a bad MAC is a 400 problem; a bare request gets a script that identifies the client', async () => {
    await expect(script('not-a-mac')).rejects.toMatchObject({ statusCode: 400, code: 'invalid_mac' });
    const r = await s.c.boot.script({ clientIp: '10.0.0.50', baseUrl: BASE });
    expect(r.result).toBe('identify');
    expect(r.script).toContain('mac=${netX/mac}');
  });
});
