import { createServer } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FakeDnsmasq } from '../../src/adapters/dnsmasq/dnsmasq.fake.js';
import { FakeBootSessionStarter } from '../../src/modules/boot/boot-session.fake.js';
import { publishedImage } from '../helpers/boot.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

const MAC = '52:54:00:12:34:56';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

describeEachDialect('boot endpoint', (dialect) => {
  let t: TestContext;
  let starter: FakeBootSessionStarter;
  let dnsmasq: FakeDnsmasq;

  beforeEach(async () => {
    dnsmasq = new FakeDnsmasq();
    starter = new FakeBootSessionStarter(null);
    t = await createTestContext(dialect, {
      container: { dnsmasq, bootSessions: { startSession: (r) => starter.startSession(r) } },
    });
    // the fake writes session rows into this test's database
    starter = new FakeBootSessionStarter(t.container.database.db);
  });
  afterEach(async () => t.close());

  const settings = (patch: Parameters<TestContext['container']['settings']['update']>[0]) =>
    t.container.settings.update(patch, 'test');

  const image = (name = 'Win 11', published = true) => publishedImage(t, name, { number: 3, published });

  const boot = (query: string, ip = '10.0.0.50') =>
    t.app.inject({
      method: 'GET',
      url: `/boot/ipxe?${query}`,
      remoteAddress: ip,
      headers: { host: '10.0.0.1:8080' },
    });
  const bootMac = (mac = MAC, extra = '', ip?: string) =>
    boot(`mac=${encodeURIComponent(mac)}&arch=x86_64&platform=efi${extra}`, ip);

  it('unknown MAC -> pending machine that waits, approval + image -> sanboot script with the session', async () => {
    const r1 = await bootMac();
    expect(r1.statusCode).toBe(200);
    expect(r1.headers['content-type']).toMatch(/^text\/plain/);
    expect(r1.headers['x-ggnet-boot-result']).toBe('pending');
    expect(r1.body).toMatch(/^#!ipxe\n/);
    expect(r1.body).toContain('waiting for approval');
    expect(r1.body).toContain(
      'chain --replace --autofree http://10.0.0.1:8080/boot/ipxe?mac=${netX/mac}&arch=${buildarch}&platform=${platform} || goto retry',
    );
    const m = await t.container.machines.findByMac(MAC);
    expect(m).toMatchObject({
      name: 'pc-1',
      pending: true,
      enabled: true,
      status: 'pending',
      lastIp: '10.0.0.50',
    });
    // asking again does not register twice; the client waits
    const r2 = await bootMac('52-54-00-12-34-56');
    expect(r2.headers['x-ggnet-boot-result']).toBe('pending');
    expect((await t.container.machines.list({ limit: 10, offset: 0 })).total).toBe(1);
    expect(starter.requests).toHaveLength(0);
    // the activity feed shows the waiting client, recorded once (not per retry)
    const feed = await t.app.inject({
      url: `/api/v1/boot/events?mac=${encodeURIComponent('52-54-00-12-34-56')}`,
      headers: await t.auth('viewer'),
    });
    expect(feed.statusCode).toBe(200);
    expect(feed.json().total).toBe(1);
    expect(feed.json().items[0]).toMatchObject({
      kind: 'script',
      mac: MAC,
      machineId: m!.id,
      sessionId: null,
    });
    expect(feed.json().items[0].detail).toMatchObject({ result: 'pending', ip: '10.0.0.50', arch: 'x86_64' });
    expect(
      (await t.app.inject({ url: '/api/v1/boot/events?mac=nope', headers: await t.auth('viewer') }))
        .statusCode,
    ).toBe(400);

    // approved but no image: boots the local disk
    const auth = await t.auth('operator');
    const ok = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/machines/${m!.id}`,
      headers: auth,
      payload: { pending: false },
    });
    expect(ok.statusCode).toBe(200);
    const r3 = await bootMac();
    expect(r3.headers['x-ggnet-boot-result']).toBe('no_image');
    expect(r3.body.trim().split('\n').at(-1)).toBe('exit 1');

    const img = await image();
    await t.container.machines.update(m!.id, { bootImageId: img.id });
    const r4 = await bootMac(MAC, '', '10.0.0.51');
    expect(r4.headers['x-ggnet-boot-result']).toBe('boot');
    expect(starter.requests).toEqual([{ machineId: m!.id, mode: 'normal', clientIp: '10.0.0.51' }]);
    const machine = await t.container.machines.get(m!.id);
    expect(r4.body).toContain(`set initiator-iqn ${machine.initiatorIqn}`);
    expect(r4.body).toContain('set username pc-1');
    expect(r4.body).toContain(`sanboot iscsi:10.0.0.1::3260:1:iqn.2024-01.lan.ggnet:pc-1 || goto fail1`);
    expect(r4.body).toContain('boots Win 11 v3');
    expect(r4.body).not.toContain('reverse-');

    // the timeline of the session has the script event
    const sessionId = machine.sessionId!;
    const tl = await t.app.inject({ url: `/api/v1/sessions/${sessionId}/timeline`, headers: auth });
    expect(tl.json().items.map((e: { kind: string }) => e.kind)).toEqual(['script']);
    expect(tl.json().items[0].detail).toMatchObject({
      result: 'boot',
      arch: 'x86_64',
      platform: 'efi',
      mode: 'normal',
    });
  });

  it('auto-registration off: unknown PCs boot their local disk and nothing is stored', async () => {
    await settings({ machines: { autoRegister: 'off' } });
    const r = await bootMac();
    expect(r.headers['x-ggnet-boot-result']).toBe('unknown');
    expect(r.body).toContain('not registered');
    expect(r.body.trim().split('\n').at(-1)).toBe('exit 1');
    expect((await t.container.machines.list({ limit: 10, offset: 0 })).total).toBe(0);
  });

  it('auto-registration auto: registers with the default image and name pattern and boots at once', async () => {
    const img = await image('Lab image');
    await settings({ machines: { autoRegister: 'auto', defaultImageId: img.id, namePattern: 'lab-{mac}' } });
    const r = await bootMac('52:54:00:AB:CD:EF');
    expect(r.headers['x-ggnet-boot-result']).toBe('boot');
    const m = await t.container.machines.findByMac('52:54:00:ab:cd:ef');
    // no image of its own: it boots the default one by inheritance
    expect(m).toMatchObject({ name: 'lab-525400abcdef', pending: false, bootImageId: null });
    expect(m!.effective.bootImageId).toEqual({ value: img.id, source: 'default' });
    expect(starter.requests.map((q) => q.machineId)).toEqual([m!.id]);
  });

  it("an image's UEFI boot file (PATCH /images/{id}) goes into its boot script as san-filename", async () => {
    const img = await image('Captured');
    const admin = await t.auth('operator');
    const patch = (uefiBootFile: unknown) =>
      t.app.inject({
        method: 'PATCH',
        url: `/api/v1/images/${img.id}`,
        headers: admin,
        payload: { uefiBootFile },
      });
    const bad = await patch('EFI/BOOT/x.efi');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'validation_failed' });
    expect((await patch('\\EFI\\x.txt')).statusCode).toBe(400);
    const ok = await patch('\\EFI\\Microsoft\\Boot\\bootmgfw.efi');
    expect(ok.statusCode).toBe(200);
    expect(ok.json().uefiBootFile).toBe('\\EFI\\Microsoft\\Boot\\bootmgfw.efi');
    await t.container.machines.create({ name: 'pc-uefi', mac: MAC, bootImageId: img.id });
    const r = await bootMac();
    expect(r.headers['x-ggnet-boot-result']).toBe('boot');
    expect(r.body).toContain(
      'iseq ${platform} efi && set san-filename \\EFI\\Microsoft\\Boot\\bootmgfw.efi || echo -n',
    );
    // null goes back to iPXE's default path
    expect((await patch(null)).json().uefiBootFile).toBeNull();
    const again = await bootMac();
    expect(again.body).not.toContain('san-filename');
  });

  it('numbers auto-registered machines after the highest existing one', async () => {
    await t.container.machines.create({ name: 'pc-7', mac: '52:54:00:00:00:07' });
    await bootMac('52:54:00:00:00:08');
    expect((await t.container.machines.findByMac('52:54:00:00:00:08'))?.name).toBe('pc-8');
  });

  it('disabled, local and maintenance machines; the boot menu', async () => {
    const img = await image();
    const m = await t.container.machines.create({
      name: 'pc-01',
      mac: MAC,
      bootImageId: img.id,
      enabled: false,
    });
    expect((await bootMac()).headers['x-ggnet-boot-result']).toBe('disabled');
    await t.container.machines.update(m.id, { enabled: true, bootMode: 'local' });
    const local = await bootMac();
    expect(local.headers['x-ggnet-boot-result']).toBe('local');
    expect(local.body).toContain('exit 1');
    await t.container.machines.update(m.id, { bootMode: 'maintenance' });
    const maint = await bootMac();
    expect(maint.headers['x-ggnet-boot-result']).toBe('boot');
    expect(maint.body).toContain('MAINTENANCE');
    expect(starter.requests.at(-1)).toMatchObject({ mode: 'maintenance' });
    // without the menu a client cannot pick its mode
    await t.container.machines.update(m.id, { bootMode: 'normal' });
    await bootMac(MAC, '&mode=maintenance');
    expect(starter.requests.at(-1)).toMatchObject({ mode: 'normal' });

    await settings({ boot: { menu: true, menuTimeoutSec: 7 } });
    const menu = await bootMac();
    expect(menu.headers['x-ggnet-boot-result']).toBe('menu');
    expect(menu.body).toContain('choose --timeout 7000 --default normal mode');
    expect((await bootMac(MAC, '&mode=local')).headers['x-ggnet-boot-result']).toBe('local');
    // maintenance from the menu needs a PIN or an operator's approval (boot-maintenance.test.ts):
    // without either it is not offered, and asking for it anyway boots the machine's own mode
    expect(menu.body).not.toContain('item maintenance');
    await bootMac(MAC, '&mode=maintenance');
    expect(starter.requests.at(-1)).toMatchObject({ mode: 'normal' });
  });

  it('an image without a published version is not booted', async () => {
    const img = await image('Draft', false);
    await t.container.machines.create({ name: 'pc-01', mac: MAC, bootImageId: img.id });
    const r = await bootMac();
    expect(r.headers['x-ggnet-boot-result']).toBe('no_image');
    expect(r.body).toContain('Draft has no published version');
    expect(starter.requests).toHaveLength(0);
  });

  it('a session that cannot start gives a readable screen that retries, and an error event', async () => {
    const img = await image();
    const m = await t.container.machines.create({ name: 'pc-01', mac: MAC, bootImageId: img.id });
    const { insufficientStorage } = await import('../../src/errors/app-error.js');
    starter.failWith = insufficientStorage(
      'only 1 GiB free on the storage',
      'free space or raise the reserve',
    );
    const r = await bootMac();
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-ggnet-boot-result']).toBe('error');
    expect(r.body).toContain('pc-01 cannot boot right now');
    expect(r.body).toContain('echo only 1 GiB free on the storage');
    expect(r.body).toContain('sleep 30');
    const events = await t.container.database.db
      .selectFrom('boot_events')
      .selectAll()
      .where('machine_id', '=', m.id)
      .where('kind', '=', 'error')
      .execute();
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.detail)).toMatchObject({ code: 'insufficient_storage', stage: 'session' });
  });

  it('bad requests: invalid MAC is a 400 problem; a bare or unexpanded URL gets a script that identifies the client', async () => {
    const bad = await boot('mac=zz:zz');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/problem\+json/);
    expect(bad.json()).toMatchObject({ code: 'invalid_mac' });
    const badArch = await boot(`mac=${MAC}&arch=x%20y`);
    expect(badArch.statusCode).toBe(400);
    for (const q of ['', 'mac=${netX/mac}']) {
      const r = await boot(q);
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-ggnet-boot-result']).toBe('identify');
      expect(r.body).toContain('chain --replace --autofree http://10.0.0.1:8080/boot/ipxe?mac=${netX/mac}');
    }
    expect((await t.container.machines.list({ limit: 10, offset: 0 })).total).toBe(0);
  });

  it('links the DHCP/TFTP events before the script to the session; POST /boot/ready records OS up once; stats', async () => {
    const img = await image();
    const m = await t.container.machines.create({ name: 'pc-01', mac: MAC, bootImageId: img.id });
    const at = (s: number) => new Date(Date.now() - 10_000 + s * 1000);
    const ev = (kind: 'dhcp_discover' | 'dhcp_ack' | 'tftp', s: number, mac: string | null = MAC) => ({
      kind,
      at: at(s),
      mac,
      ip: '10.0.0.50',
      firmware: true,
      detail: {},
    });
    // a stale event of an older boot (outside the window) and another machine's event stay unlinked
    dnsmasq.emit(
      { ...ev('dhcp_discover', 0), at: new Date(Date.now() - 3600_000) },
      ev('dhcp_discover', 1),
      ev('dhcp_ack', 2),
      ev('tftp', 3),
      ev('dhcp_ack', 4, '52:54:00:00:00:99'),
    );
    const r = await bootMac();
    expect(r.headers['x-ggnet-boot-result']).toBe('boot');
    const sessionId = (await t.container.machines.get(m.id)).sessionId!;
    const auth = await t.auth('viewer');
    const tl = await t.app.inject({ url: `/api/v1/sessions/${sessionId}/timeline`, headers: auth });
    expect(tl.json().items.map((e: { kind: string }) => e.kind)).toEqual([
      'dhcp_discover',
      'dhcp_ack',
      'tftp',
      'script',
    ]);
    expect(tl.json().items[0].machineId).toBe(m.id);

    // OS up: only from the client's address; idempotent
    const wrongIp = await t.app.inject({
      method: 'POST',
      url: '/boot/ready',
      remoteAddress: '10.0.0.99',
      payload: { mac: MAC },
    });
    expect(wrongIp.statusCode).toBe(404);
    expect(wrongIp.json()).toMatchObject({ code: 'no_session' });
    const up = await t.app.inject({
      method: 'POST',
      url: '/boot/ready',
      remoteAddress: '10.0.0.50',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: '',
    });
    expect(up.statusCode).toBe(200);
    expect(up.json()).toEqual({ sessionId, recorded: true });
    const again = await t.app.inject({
      method: 'POST',
      url: `/boot/ready?mac=${MAC}`,
      remoteAddress: '10.0.0.50',
    });
    expect(again.json()).toEqual({ sessionId, recorded: false });
    const tl2 = await t.app.inject({ url: `/api/v1/sessions/${sessionId}/timeline`, headers: auth });
    expect(tl2.json().items.at(-1)).toMatchObject({
      kind: 'os_up',
      detail: { source: 'client', ip: '10.0.0.50' },
    });

    const stats = await t.app.inject({ url: '/api/v1/boot/stats', headers: auth });
    expect(stats.statusCode).toBe(200);
    const s = stats.json();
    expect(s).toMatchObject({ sessions: 1, completed: 1 });
    expect(s.p50Ms).toBeGreaterThanOrEqual(8000);
    expect(s.images[0]).toMatchObject({ imageId: img.id, imageName: 'Win 11', boots: 1 });
    expect(s.phasesP50Ms.tftp).toBe(1000);
    expect(s.slowestMachines[0]).toMatchObject({ machineId: m.id, machineName: 'pc-01' });
    expect(
      (await t.app.inject({ url: '/api/v1/boot/stats?since=yesterday', headers: auth })).statusCode,
    ).toBe(400);
  });

  it('a PC that waited for approval keeps the DHCP of its power-on in the timeline; an earlier boot that left does not', async () => {
    const img = await image();
    const dhcp = (s: number) => ({
      kind: 'dhcp_ack' as const,
      at: new Date(),
      mac: MAC,
      ip: '10.0.0.50',
      firmware: true,
      detail: { n: s },
    });
    // an earlier network boot that ended in "no image" (the PC went to its local disk)
    await t.container.machines.create({ name: 'pc-01', mac: MAC, bootImageId: null });
    dnsmasq.emit(dhcp(0));
    await new Promise((r) => setTimeout(r, 5));
    expect((await bootMac()).headers['x-ggnet-boot-result']).toBe('no_image');
    await new Promise((r) => setTimeout(r, 5));
    // the next power-on: DHCP, then it waits for approval (here: disabled -> pending is the same loop)
    const m = (await t.container.machines.findByMac(MAC))!;
    await t.container.repos.machines.update(m.id, { pending: 1 });
    dnsmasq.emit(dhcp(10));
    await new Promise((r) => setTimeout(r, 5));
    expect((await bootMac()).headers['x-ggnet-boot-result']).toBe('pending');
    expect((await bootMac()).headers['x-ggnet-boot-result']).toBe('pending');
    await t.container.machines.update(m.id, { pending: false, bootImageId: img.id });
    expect((await bootMac()).headers['x-ggnet-boot-result']).toBe('boot');
    const sessionId = (await t.container.machines.get(m.id)).sessionId!;
    const tl = await t.container.sessions.timeline(sessionId);
    expect(tl.filter((e) => e.kind === 'dhcp_ack').map((e) => e.detail.n)).toEqual([10]);
  });

  it('a session that takes long to prepare: the client is told to ask again, and then gets that session', async () => {
    const img = await image();
    const m = await t.container.machines.create({ name: 'pc-01', mac: MAC, bootImageId: img.id });
    t.container.boot.sessionWaitMs = 100;
    starter.delayMs = 400;
    const first = await bootMac();
    expect(first.headers['x-ggnet-boot-result']).toBe('preparing');
    expect(first.body).toContain('preparing the disk of pc-01');
    expect(first.body).toContain('sleep 2');
    // asking again while it is still being prepared does not start a second session
    expect((await bootMac()).headers['x-ggnet-boot-result']).toBe('preparing');
    await new Promise((r) => setTimeout(r, 400));
    const ready = await bootMac();
    expect(ready.headers['x-ggnet-boot-result']).toBe('boot');
    expect(starter.requests).toHaveLength(1);
    const sessionId = (await t.container.machines.get(m.id)).sessionId!;
    expect(ready.body).toContain(`session ${sessionId}`);
    // the next power-on starts a new one
    starter.delayMs = 0;
    expect((await bootMac()).headers['x-ggnet-boot-result']).toBe('boot');
    expect(starter.requests).toHaveLength(2);
    const feed = await t.container.boot.events({ mac: MAC, limit: 50, offset: 0 });
    expect(feed.items.filter((e) => e.kind === 'script').map((e) => e.detail.result)).toEqual([
      'boot',
      'boot',
      'preparing',
    ]);
  });

  it('many machines boot at once: sessions start in parallel, one MAC at a time', async () => {
    const img = await image();
    const macs = Array.from({ length: 20 }, (_, i) => `52:54:00:00:01:${i.toString(16).padStart(2, '0')}`);
    for (const [i, mac] of macs.entries())
      await t.container.machines.create({ name: `pc-${i + 10}`, mac, bootImageId: img.id });
    starter.delayMs = 100;
    const results = await Promise.all([
      ...macs.map((mac) => bootMac(mac)),
      bootMac(macs[0]),
      bootMac(macs[0]),
    ]);
    expect(results.every((r) => r.headers['x-ggnet-boot-result'] === 'boot')).toBe(true);
    // the two duplicates of macs[0] joined its start (one session start in flight per machine)
    expect(starter.requests).toHaveLength(20);
    expect(starter.maxRunning).toBeGreaterThan(10);
    expect(starter.maxRunningPerMachine).toBe(1);
  });

  it('DHCP status and snippets for external DHCP servers', async () => {
    const auth = await t.auth('viewer');
    const none = await t.app.inject({ url: '/api/v1/dhcp/snippet?format=isc', headers: auth });
    expect(none.statusCode).toBe(503);
    expect(none.json()).toMatchObject({ code: 'no_boot_address' });
    await settings({ network: { bootAddr: '192.168.7.2', bootHttpPort: 8081 } });
    for (const format of ['isc', 'kea', 'dnsmasq', 'router']) {
      const r = await t.app.inject({ url: `/api/v1/dhcp/snippet?format=${format}`, headers: auth });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({
        format,
        bootAddr: '192.168.7.2',
        scriptUrl: 'http://192.168.7.2:8081/boot/ipxe',
      });
      expect(r.json().text).toContain('192.168.7.2');
    }
    expect((await t.app.inject({ url: '/api/v1/dhcp/snippet?format=cisco', headers: auth })).statusCode).toBe(
      400,
    );
    const st = await t.app.inject({ url: '/api/v1/dhcp/status', headers: auth });
    expect(st.statusCode).toBe(200);
    expect(st.json()).toMatchObject({ mode: 'off', pid: null });
    expect((await t.app.inject({ url: '/api/v1/dhcp/status' })).statusCode).toBe(401);
  });

  it('the DHCP service follows the settings: off + address -> TFTP only; dhcp -> range and reservations', async () => {
    const dhcp = t.container.dhcp;
    await dhcp.start();
    try {
      expect(dnsmasq.current).toBeNull();
      await settings({ network: { bootAddr: '127.0.0.1' } });
      await dhcp.reconcile();
      expect(dnsmasq.current).toMatchObject({ mode: 'tftp', bootAddr: '127.0.0.1', iface: null });
      expect(dnsmasq.text).toContain('listen-address=127.0.0.1');
      await t.container.machines.create({ name: 'pc-01', mac: MAC, ip: '127.0.0.50' });
      await settings({
        dhcp: {
          mode: 'dhcp',
          iface: 'lo',
          rangeStart: '127.0.0.100',
          rangeEnd: '127.0.0.199',
          netmask: '255.255.255.0',
        },
      });
      await dhcp.reconcile();
      expect(dnsmasq.current).toMatchObject({
        mode: 'dhcp',
        iface: 'lo',
        range: { start: '127.0.0.100', end: '127.0.0.199', netmask: '255.255.255.0', leaseTimeSec: 3600 },
        reservations: [{ mac: MAC, ip: '127.0.0.50', name: 'pc-01' }],
      });
      expect(dnsmasq.text).toContain(
        'dhcp-boot=tag:ipxe,http://127.0.0.1:0/boot/ipxe?mac=${netX/mac}&arch=${buildarch}&platform=${platform},,127.0.0.1',
      );
      expect(dhcp.status()).toMatchObject({
        mode: 'dhcp',
        daemon: 'running',
        tftp: true,
        bootAddr: '127.0.0.1',
      });
    } finally {
      await dhcp.stop();
    }
  });

  it('serves /boot/* on network.bootHttpPort as well, and only that', async () => {
    const port = await freePort();
    await settings({ network: { bootHttpPort: port } });
    await t.container.bootHttp.start();
    try {
      expect(t.container.bootHttp.listeningPort).toBe(port);
      const r = await fetch(`http://127.0.0.1:${port}/boot/ipxe?mac=${MAC}`);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain('waiting for approval');
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/machines`)).status).toBe(404);
      await settings({ network: { bootHttpPort: null } });
      await t.container.bootHttp.sync();
      expect(t.container.bootHttp.listeningPort).toBeNull();
      await expect(fetch(`http://127.0.0.1:${port}/boot/ipxe`)).rejects.toThrow();
    } finally {
      await t.container.bootHttp.stop();
    }
  });
});
