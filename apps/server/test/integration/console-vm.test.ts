import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeDnsmasq } from '../../src/adapters/dnsmasq/dnsmasq.fake.js';
import { FakeIscsiDriver } from '../../src/adapters/iscsi/iscsi-target.fake.js';
import { FakeQemuStorageDaemon } from '../../src/adapters/qsd/qsd.fake.js';
import { FakeQemuVms } from '../../src/adapters/qemu/qemu-vm.fake.js';
import { seedImage, type SeededImage } from '../helpers/iscsi.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The console VM's API (issue 15 point 3) on both dialects: the real container, routes, sessions,
 * writebacks (copy backend) and the VNC WebSocket proxy, with fakes for tgtd and QEMU (the real ones
 * run in the e2e test). A unix socket server stands in for QEMU's VNC server.
 */
describeEachDialect('console VM API', (dialect) => {
  let t: TestContext;
  let vms: FakeQemuVms;
  let img: SeededImage;
  let base: string;
  let vncServer: Server;
  let sockDir: string;
  const received: Buffer[] = [];

  beforeAll(async () => {
    // the fake's sockets live in a temp dir of this test (a unix socket server stands in for VNC)
    sockDir = mkdtempSync(join(tmpdir(), 'ggnet-console-'));
    vms = new FakeQemuVms(sockDir);
    t = await createTestContext(dialect, {
      container: {
        iscsiDriver: new FakeIscsiDriver(),
        dnsmasq: new FakeDnsmasq(),
        qsd: new FakeQemuStorageDaemon(),
        qemuVms: vms,
      },
    });
    await t.container.settings.update(
      {
        iscsi: { portal: '127.0.0.1:3260' },
        storage: { backend: 'copy', reserveBytes: 0, spareClones: 0 },
        console: { maxMemoryMiB: 4096 },
      },
      null,
    );
    img = await seedImage(t.container, 'win11', { sizeMiB: 1, dataMiB: 0 });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const a = t.app.server.address();
    base = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(async () => {
    vncServer?.close();
    await t.close();
    rmSync(sockDir, { recursive: true, force: true });
  });

  const call = async (
    method: string,
    path: string,
    body?: unknown,
    role: 'admin' | 'operator' | 'viewer' = 'operator',
  ) =>
    t.app.inject({
      method: method as 'POST',
      url: `/api/v1${path}`,
      headers: await t.auth(role),
      payload: body as object,
    });

  /** Opens the VNC socket: token in the first message; resolves with the messages and how it closed. */
  const vnc = (token: string, imageId = img.imageId) =>
    new Promise<{
      ws: WebSocket;
      texts: Array<Record<string, unknown>>;
      binary: Buffer[];
      closed: Promise<number>;
    }>((resolve, reject) => {
      const ws = new WebSocket(`ws://${base}/api/v1/images/${imageId}/console/vnc`);
      const texts: Array<Record<string, unknown>> = [];
      const binary: Buffer[] = [];
      const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
      ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
      ws.on('message', (raw: Buffer, isBinary: boolean) => {
        if (isBinary) binary.push(raw);
        else texts.push(JSON.parse(raw.toString()) as Record<string, unknown>);
        resolve({ ws, texts, binary, closed });
      });
      ws.on('error', reject);
    });

  it('starts the VM on a maintenance session of the image, listed with the sessions', async () => {
    const r = await call('POST', `/images/${img.imageId}/console`, { memoryMiB: 1024, cpus: 1 });
    expect(r.statusCode, r.body).toBe(201);
    const vm = r.json();
    expect(vm).toMatchObject({
      imageId: img.imageId,
      state: 'running',
      accel: 'tcg',
      memoryMiB: 1024,
      cpus: 1,
    });
    expect(vms.isRunning(img.imageId)).toBe(true);
    const started = vms.started.at(-1)!;
    // QEMU logs in to the session's own target with the session's CHAP user, as a PC would
    const sessions = (await call('GET', '/sessions?live=true', undefined, 'viewer')).json();
    const s = sessions.items.find((x: { id: string }) => x.id === vm.sessionId);
    expect(s).toMatchObject({ mode: 'maintenance', imageId: img.imageId, machineId: vm.machineId });
    const target = (await t.container.repos.targets.bySession(vm.sessionId))[0]!;
    expect(started.disk).toMatchObject({
      targetIqn: target.iqn,
      chapUser: target.chap_user,
      chapSecret: target.chap_secret,
      portalHost: '127.0.0.1',
      portalPort: 3260,
    });
    expect(started.args.join(' ')).not.toContain(target.chap_secret!);
    // the console machine is disabled: no PC on the LAN boots as it
    const m = (await call('GET', `/machines/${vm.machineId}`, undefined, 'viewer')).json();
    expect(m).toMatchObject({ enabled: false, bootImageId: img.imageId, bootMode: 'maintenance' });
    expect((await call('GET', `/images/${img.imageId}/console`, undefined, 'viewer')).json().state).toBe(
      'running',
    );
  });

  it('refuses a second console VM of the same image, and limits and roles', async () => {
    const r = await call('POST', `/images/${img.imageId}/console`, {});
    expect(r.statusCode).toBe(409);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.json()).toMatchObject({ code: 'console_running' });
    expect(r.json().hint).toMatch(/one console VM per image/);
    const other = await seedImage(t.container, 'linux', { sizeMiB: 1, dataMiB: 0 });
    const big = await call('POST', `/images/${other.imageId}/console`, { memoryMiB: 8192 });
    expect(big.statusCode).toBe(422);
    expect(big.json()).toMatchObject({ code: 'console_limit' });
    expect((await call('POST', `/images/${other.imageId}/console`, {}, 'viewer')).statusCode).toBe(403);
    const missing = await call('POST', `/images/00000000-0000-4000-8000-000000000000/console`, {});
    expect(missing.statusCode).toBe(404);
  });

  it('proxies VNC to an operator and refuses a viewer on the WebSocket', async () => {
    vncServer = createServer((sock) => {
      sock.write('RFB 003.008\n');
      sock.on('data', (d) => received.push(d));
    });
    await new Promise<void>((r) => vncServer.listen(vms.vncSocket(img.imageId), r));

    const viewer = await vnc(await t.token('viewer'));
    expect(await viewer.closed).toBe(4403);
    expect(viewer.texts[0]).toMatchObject({ type: 'error', code: 'forbidden' });

    const bad = await vnc('not-a-token');
    expect(await bad.closed).toBe(4401);

    const op = await vnc(await t.token('operator'));
    for (let i = 0; i < 100 && op.binary.length === 0; i++) await sleep(20);
    expect(op.texts[0]).toMatchObject({ type: 'ready' });
    expect(Buffer.concat(op.binary).toString()).toBe('RFB 003.008\n');
    op.ws.send(Buffer.from('RFB 003.008\n'));
    for (let i = 0; i < 100 && received.length === 0; i++) await sleep(20);
    expect(Buffer.concat(received).toString()).toBe('RFB 003.008\n');
    op.ws.close();
  });

  it('powers the VM off; the maintenance session and its disk stay for apply', async () => {
    const vm = (await call('GET', `/images/${img.imageId}/console`, undefined, 'viewer')).json();
    const r = await call('DELETE', `/images/${img.imageId}/console`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ state: 'stopped', pid: null });
    expect(vms.isRunning(img.imageId)).toBe(false);
    expect((await call('DELETE', `/images/${img.imageId}/console`)).json()).toMatchObject({
      code: 'console_not_running',
    });
    // the socket of a stopped VM is refused
    const op = await vnc(await t.token('operator'));
    expect(await op.closed).toBe(4404);
    // the session is live and applies like a PC's maintenance session
    const s = (await call('GET', `/sessions/${vm.sessionId}`, undefined, 'viewer')).json();
    expect(s.state).not.toBe('ended');
    const applied = await call('POST', `/sessions/${vm.sessionId}/apply`, { comment: 'from the console VM' });
    expect(applied.statusCode, applied.body).toBe(201);
    expect(applied.json()).toMatchObject({ imageId: img.imageId, comment: 'from the console VM' });
    // a new VM starts on a fresh maintenance disk of the new version
    const again = await call('POST', `/images/${img.imageId}/console`, {});
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json().sessionId).not.toBe(vm.sessionId);
    // the guest powers itself off: the VM is stopped
    vms.guestPowerOff(img.imageId);
    for (let i = 0; i < 50; i++) {
      if (
        (await call('GET', `/images/${img.imageId}/console`, undefined, 'viewer')).json().state === 'stopped'
      )
        break;
      await sleep(20);
    }
    expect((await call('GET', `/images/${img.imageId}/console`, undefined, 'viewer')).json().state).toBe(
      'stopped',
    );
  });

  it('adopts a VM that a previous GGnet left running, and stops the row of one that is gone', async () => {
    const r = await call('POST', `/images/${img.imageId}/console`, {});
    expect(r.statusCode, r.body).toBe(201);
    const pid = r.json().pid as number;
    // a new GGnet: its adapter knows nothing until adoption
    vms.running.delete(img.imageId);
    vms.leftRunning.set(img.imageId, pid);
    // a request before the start-up's adoption adopts the VM instead of starting a second one
    const early = await call('POST', `/images/${img.imageId}/console`, {});
    expect(early.json()).toMatchObject({ code: 'console_running' });
    expect(vms.started.filter((v) => v.id === img.imageId)).toHaveLength(3);
    await t.container.consoleVms.adoptAll();
    expect(vms.isRunning(img.imageId)).toBe(true);
    expect((await call('GET', `/images/${img.imageId}/console`, undefined, 'viewer')).json()).toMatchObject({
      state: 'running',
      pid,
    });
    vms.running.delete(img.imageId);
    await t.container.consoleVms.adoptAll();
    const gone = (await call('GET', `/images/${img.imageId}/console`, undefined, 'viewer')).json();
    expect(gone).toMatchObject({ state: 'stopped', pid: null });
    expect(gone.error).toMatch(/not running/);
  });
});
