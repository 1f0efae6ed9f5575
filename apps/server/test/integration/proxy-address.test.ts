import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

/** One HTTP request over a real socket, from a chosen local address (127.0.0.1 and 127.0.0.2 are both on lo). */
function send(
  port: number,
  from: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        method,
        path,
        headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

describeEachDialect('client address behind a reverse proxy (X-Forwarded-For)', (dialect) => {
  let t: TestContext;
  let port: number;
  let h: Record<string, string>;

  beforeAll(async () => {
    // the default: only a proxy on this host (127.0.0.1, ::1) is believed; 127.0.0.2 is a client
    t = await createTestContext(dialect, { config: { loginLimit: { perIp: 5, perUser: 5, windowSec: 60 } } });
    expect(t.config.trustProxy).toEqual(['127.0.0.1', '::1']);
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const a = t.app.server.address();
    port = typeof a === 'object' && a ? a.port : 0;
    h = await t.auth();
  });
  afterAll(async () => t.close());

  const auditIps = async (username: string) => {
    const r = await t.app.inject({
      url: `/api/v1/audit?action=auth.login&username=${username}&limit=100`,
      headers: h,
    });
    return (r.json().items as Array<{ ip: string }>).map((i) => i.ip);
  };

  /** 12 failed logins, each with a made-up address of its own in X-Forwarded-For (5 allowed per address). */
  const flood = async (from: string, xff: (i: number) => string, username: string) => {
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await send(
        port,
        from,
        'POST',
        '/api/v1/auth/login',
        { 'x-forwarded-for': xff(i) },
        // a new name each time: only the per-address limit can stop this
        { username: `${username}${i}`, password: 'wrong-password' },
      );
      codes.push(r.status);
    }
    return codes;
  };

  it('through the proxy on loopback: the address the proxy appended counts, never the client’s own header', async () => {
    // nginx ($proxy_add_x_forwarded_for) appends the address it saw (10.9.9.9) to what the client sent
    const codes = await flood('127.0.0.1', (i) => `6.6.${i}.6, 10.9.9.9`, 'via-proxy-');
    expect(codes.slice(0, 5).every((c) => c === 401)).toBe(true);
    expect(codes.slice(5).every((c) => c === 429)).toBe(true);
    const ips = new Set<string>();
    for (let i = 0; i < 12; i++) for (const ip of await auditIps(`via-proxy-${i}`)) ips.add(ip);
    expect([...ips]).toEqual(['10.9.9.9']);
  });

  it('straight from a client that is not a trusted proxy: its X-Forwarded-For is ignored', async () => {
    // the finding: "6.6.N.6, 127.0.0.1" made every request look like a new address
    const codes = await flood('127.0.0.2', (i) => `6.6.${i}.6, 127.0.0.1`, 'direct-');
    expect(codes.slice(0, 5).every((c) => c === 401)).toBe(true);
    expect(codes.slice(5).every((c) => c === 429)).toBe(true);
    const ips = new Set<string>();
    for (let i = 0; i < 12; i++) for (const ip of await auditIps(`direct-${i}`)) ips.add(ip);
    expect([...ips]).toEqual(['127.0.0.2']);
  });

  it('X-Forwarded-Proto only counts from a trusted proxy', async () => {
    // fresh addresses: the floods above used up 10.9.9.9 and 127.0.0.2
    const me = async (from: string) => {
      const r = await send(
        port,
        from,
        'POST',
        '/api/v1/auth/login',
        { 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.7.7.7', 'x-ggnet-csrf': '1' },
        {
          username: 'admin',
          password: 'admin-password-1',
          refreshIn: 'cookie',
        },
      );
      return r;
    };
    // the refresh cookie is Secure only when the request came over TLS (here: as the proxy says)
    const viaProxy = await me('127.0.0.1');
    expect(viaProxy.status).toBe(200);
    expect(String(viaProxy.headers['set-cookie'])).toMatch(/; Secure/);
    const direct = await me('127.0.0.3');
    expect(direct.status).toBe(200);
    expect(String(direct.headers['set-cookie'])).not.toMatch(/; Secure/);
  });
});
