import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FakeDnsmasq } from '../../src/adapters/dnsmasq/dnsmasq.fake.js';
import { freePort } from '../helpers/iscsi.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

interface Trickle {
  /** Everything the server sent. */
  received: string;
  /** Body bytes sent before the server closed the connection. */
  sent: number;
  closedByServer: boolean;
}

/**
 * A client that sends the headers of a request with a body of `length` bytes, then one byte every
 * `everyMs`, over a real TCP connection; stops when the server closes it or after `maxMs`.
 */
async function trickle(
  port: number,
  head: string,
  length: number,
  everyMs: number,
  maxMs: number,
): Promise<Trickle> {
  const sock: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((ok, fail) => sock.once('connect', ok).once('error', fail));
  const r: Trickle = { received: '', sent: 0, closedByServer: false };
  let closed = false;
  sock.on('data', (b) => (r.received += b.toString()));
  sock.on('error', () => undefined); // a reset while we still write is what "cut" looks like
  const done = new Promise<void>((ok) =>
    sock.once('close', () => {
      closed = true;
      ok();
    }),
  );
  sock.write(`${head}\r\nContent-Length: ${length}\r\n\r\n`);
  const t0 = Date.now();
  while (!closed && r.sent < length && Date.now() - t0 < maxMs) {
    sock.write('x');
    r.sent++;
    await sleep(everyMs);
  }
  r.closedByServer = closed;
  if (!closed) sock.destroy();
  await done;
  return r;
}

/** Opens a raw connection (from `from`) and says whether the server answers a request on it. */
async function answers(port: number, from = '127.0.0.1'): Promise<boolean> {
  const sock = connect({ port, host: '127.0.0.1', localAddress: from });
  return new Promise((ok) => {
    let data = '';
    sock.on('error', () => ok(false));
    sock.on('data', (b) => {
      data += b.toString();
      if (data.startsWith('HTTP/1.1')) {
        sock.destroy();
        ok(true);
      }
    });
    sock.on('close', () => ok(data.startsWith('HTTP/1.1')));
    sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    setTimeout(() => {
      sock.destroy();
      ok(false);
    }, 5000).unref();
  });
}

/**
 * Issue 10, point 3: /boot/* can be served on the boot listener only (the API's port need not face
 * the boot network); a request body that trickles in is cut on both listeners; both have a
 * connection limit. Real sockets: app.inject() has none to trickle on.
 */
describeEachDialect('boot listener, body deadline and connection limits', (dialect) => {
  let t: TestContext;
  let mainPort: number;

  beforeEach(async () => {
    t = await createTestContext(dialect, {
      config: {
        bodyTimeoutSec: 1,
        maxConnections: 16,
        bootMaxConnections: 16,
        bootMaxConnectionsPerAddress: 4,
      },
      container: { dnsmasq: new FakeDnsmasq() },
    });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const a = t.app.server.address();
    mainPort = typeof a === 'object' && a ? a.port : 0;
    t.container.runtime.httpPort = mainPort;
  });
  afterEach(async () => {
    await t.container.bootHttp.stop();
    await t.close();
  });

  const put = async (payload: Record<string, unknown>) =>
    t.app.inject({ method: 'PUT', url: '/api/v1/settings', headers: await t.auth('admin'), payload });

  it('network.bootEndpointOnlyOnBootListener: /boot/* answers 404 on the API port and is served on the boot listener', async () => {
    // the setting needs a boot listener of its own
    const alone = await put({ network: { bootEndpointOnlyOnBootListener: true } });
    expect(alone.statusCode).toBe(422);
    expect(alone.json().errors).toEqual([
      {
        path: 'network.bootEndpointOnlyOnBootListener',
        message: expect.stringMatching(/network\.bootHttpPort/),
      },
    ]);
    const same = await put({ network: { bootEndpointOnlyOnBootListener: true, bootHttpPort: mainPort } });
    expect(same.statusCode).toBe(422);
    expect(same.json().errors[0].path).toBe('network.bootHttpPort');

    const bootPort = await freePort();
    expect(
      (await put({ network: { bootEndpointOnlyOnBootListener: true, bootHttpPort: bootPort } })).statusCode,
    ).toBe(200);
    await t.container.bootHttp.start();
    const mac = '52:54:00:12:34:56';
    const main = await fetch(`http://127.0.0.1:${mainPort}/boot/ipxe?mac=${mac}`);
    expect(main.status).toBe(404);
    expect(main.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await fetch(`http://127.0.0.1:${mainPort}/boot/ready`, { method: 'POST' })).status).toBe(404);
    // nothing was registered through the API port
    expect((await t.container.machines.list({ limit: 1, offset: 0 })).total).toBe(0);
    const boot = await fetch(`http://127.0.0.1:${bootPort}/boot/ipxe?mac=${mac}`);
    expect(boot.status).toBe(200);
    expect(await boot.text()).toContain('waiting for approval');
    // the boot listener serves /boot/* only: no API, no console
    expect((await fetch(`http://127.0.0.1:${bootPort}/api/v1/machines`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${bootPort}/api/v1/auth/login`, { method: 'POST' })).status).toBe(
      404,
    );
    expect((await fetch(`http://127.0.0.1:${bootPort}/`)).status).toBe(404);
    // the API still works on its port
    expect((await fetch(`http://127.0.0.1:${mainPort}/healthz`)).status).toBe(200);
    // switched off again: the API port serves /boot/* as before
    expect((await put({ network: { bootEndpointOnlyOnBootListener: false } })).statusCode).toBe(200);
    expect((await fetch(`http://127.0.0.1:${mainPort}/boot/ipxe?mac=${mac}`)).status).toBe(200);
  });

  it('a body that trickles in is cut with 408 on the API port and on the boot listener', async () => {
    const bootPort = await freePort();
    await put({ network: { bootHttpPort: bootPort } });
    await t.container.bootHttp.start();
    // 200 bytes at one byte per 100 ms would take 20 s; the deadline is 1 s
    for (const [port, head] of [
      [mainPort, 'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json'],
      [bootPort, 'POST /boot/ready HTTP/1.1\r\nHost: x\r\nContent-Type: application/json'],
    ] as const) {
      const r = await trickle(port, head, 200, 100, 15_000);
      expect(r.closedByServer).toBe(true);
      expect(r.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(r.sent).toBeLessThan(200);
    }
    // a request that arrives in time is unaffected
    const ok = await fetch(`http://127.0.0.1:${mainPort}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'wrong-password' }),
    });
    expect(ok.status).toBe(401);
  });

  it('uploads, which stream for minutes, are not cut by the body deadline', async () => {
    await put({ storage: { reserveBytes: 0 } });
    const auth = await t.auth('operator');
    const img = await t.app.inject({
      method: 'POST',
      url: '/api/v1/images',
      headers: auth,
      payload: { name: 'slow' },
    });
    expect(img.statusCode).toBe(201);
    const id = img.json().id as string;
    // 30 bytes at one per 100 ms: 3 s, three times the deadline
    const r = await trickle(
      mainPort,
      `PUT /api/v1/images/${id}/content?filename=slow.raw HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/octet-stream`,
      30,
      100,
      10_000,
    );
    expect(r.sent).toBe(30);
    expect(r.received).not.toMatch(/^HTTP\/1\.1 408 /);
  });

  it('each listener takes at most its configured number of connections; the boot listener also per address', async () => {
    const bootPort = await freePort();
    await put({ network: { bootHttpPort: bootPort } });
    await t.container.bootHttp.start();
    const held: Socket[] = [];
    const hold = async (port: number, from: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const s = connect({ port, host: '127.0.0.1', localAddress: from });
        s.on('error', () => undefined);
        await new Promise((ok) => s.once('connect', ok));
        held.push(s);
      }
      await sleep(100); // the server has accepted them
    };
    try {
      // the API port: 16 in all (no limit per address: behind nginx every client is 127.0.0.1)
      await hold(mainPort, '127.0.0.1', 16);
      expect(await answers(mainPort)).toBe(false);
      held.pop()!.destroy();
      await sleep(100);
      expect(await answers(mainPort)).toBe(true);
      for (const s of held.splice(0)) s.destroy();

      // the boot listener: 4 per client address...
      await hold(bootPort, '127.0.0.1', 4);
      expect(await answers(bootPort, '127.0.0.1')).toBe(false);
      expect(await answers(bootPort, '127.0.0.2')).toBe(true);
      // ...and 16 in all
      for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) await hold(bootPort, from, 4);
      expect(await answers(bootPort, '127.0.0.5')).toBe(false);
      held.pop()!.destroy();
      await sleep(100);
      expect(await answers(bootPort, '127.0.0.5')).toBe(true);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});
