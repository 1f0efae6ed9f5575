import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ADMIN_PASSWORD,
  createTestContext,
  describeEachDialect,
  type TestContext,
} from '../helpers/test-context.js';

interface Pair {
  accessToken: string;
  refreshToken: string;
  user: { id: string; role: string };
}

interface Live {
  ws: WebSocket;
  events: Array<{ type: string; id?: string; code?: string }>;
  closed: Promise<{ code: number; reason: string }>;
  isOpen: () => boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A login ends everywhere at once: access tokens stop working on the next request and the events
 * WebSocket of that login is closed, when the user is disabled, demoted, given a new password, or
 * the login is logged out or revoked, and when the token expires. Real sockets, both dialects.
 */
describeEachDialect('ending a login ends its access tokens and event sockets at once', (dialect) => {
  let t: TestContext;
  let base: string;
  let admin: Record<string, string>;

  beforeAll(async () => {
    t = await createTestContext(dialect, { config: { loginLimit: { perIp: 1000, perUser: 100 } } });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const a = t.app.server.address();
    base = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    admin = await t.auth();
  });
  afterAll(async () => t.close());

  const login = async (username: string, password: string): Promise<Pair> => {
    const r = await fetch(`http://${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    expect(r.status, await r.clone().text()).toBe(200);
    return (await r.json()) as Pair;
  };
  const me = async (token: string) =>
    fetch(`http://${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
  const call = (method: string, path: string, body?: unknown) =>
    t.app.inject({
      method: method as 'POST',
      url: `/api/v1${path}`,
      headers: admin,
      payload: body as object,
    });
  const user = async (username: string, role: 'viewer' | 'operator' | 'admin') =>
    (await t.container.users.create({ username, password: `${username}-password`, role })).id;

  /** An events socket authenticated with the first message; resolves once it is subscribed. */
  const live = (token: string) =>
    new Promise<Live>((resolve, reject) => {
      const ws = new WebSocket(`ws://${base}/api/v1/events`);
      const events: Live['events'] = [];
      let open = true;
      const closed = new Promise<{ code: number; reason: string }>((r) =>
        ws.on('close', (code, reason) => {
          open = false;
          r({ code, reason: reason.toString() });
        }),
      );
      ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
      ws.on('message', (raw: Buffer) => {
        const m = JSON.parse(raw.toString()) as Live['events'][number];
        events.push(m);
        if (m.type === 'ready') resolve({ ws, events, closed, isOpen: () => open });
        if (m.type === 'error' && events.length === 1) reject(new Error(JSON.stringify(m)));
      });
      ws.on('error', reject);
    });

  /** Makes an event every socket may see, and waits until `l` has it (proof the socket still works). */
  let n = 0;
  const ping = async (...sockets: Live[]) => {
    const name = `pc-ping-${n++}`;
    const r = await call('POST', '/machines', {
      name,
      mac: `52:54:00:aa:00:${n.toString(16).padStart(2, '0')}`,
    });
    expect(r.statusCode).toBe(201);
    for (const l of sockets) {
      for (let i = 0; i < 100 && !l.events.some((e) => e.id === r.json().id); i++) await sleep(20);
      expect(l.events.some((e) => e.id === r.json().id)).toBe(true);
    }
    return r.json().id as string;
  };

  it('a disabled viewer loses its access token and its socket at once, and gets nothing after', async () => {
    const id = await user('vicky', 'viewer');
    const pair = await login('vicky', 'vicky-password');
    const sock = await live(pair.accessToken);
    await ping(sock);
    expect((await call('PATCH', `/users/${id}`, { disabled: true })).statusCode).toBe(200);
    const closed = await sock.closed;
    expect(closed.code).toBe(4401);
    expect((await me(pair.accessToken)).status).toBe(401);
    const after = await ping();
    expect(sock.events.some((e) => e.id === after)).toBe(false);
    // enabled again: the tokens issued before the disable stay dead
    expect((await call('PATCH', `/users/${id}`, { disabled: false })).statusCode).toBe(200);
    const again = await me(pair.accessToken);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { code: string }).code).toBe('token_revoked');
    expect((await me((await login('vicky', 'vicky-password')).accessToken)).status).toBe(200);
  });

  it('an admin demoted to viewer: the socket closes, and a fresh one no longer gets admin topics', async () => {
    const id = await user('adele', 'admin');
    const pair = await login('adele', 'adele-password');
    const sock = await live(pair.accessToken);
    expect((await call('PATCH', `/users/${id}`, { role: 'viewer' })).statusCode).toBe(200);
    const closed = await sock.closed;
    expect(closed.code).toBe(4401);
    expect(sock.events.map((e) => e.code)).toContain('role_changed');
    // neither the demotion's own user.updated nor anything later reached the old socket
    expect(sock.events.some((e) => e.type.startsWith('user.'))).toBe(false);
    // the access token still works, with the viewer's rights (the role is read per request)
    expect((await me(pair.accessToken)).status).toBe(200);
    const users = await fetch(`http://${base}/api/v1/users`, {
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    expect(users.status).toBe(403);
    const fresh = await live(pair.accessToken);
    await call('PUT', '/settings', { boot: { retries: 4 } });
    await user('someone-new', 'viewer');
    await ping(fresh);
    expect(fresh.events.filter((e) => /^(user|settings)\./.test(e.type))).toEqual([]);
    fresh.ws.close();
  });

  it('a new password ends every access token and socket of the user at once', async () => {
    const id = await user('pete', 'operator');
    const a = await login('pete', 'pete-password');
    const b = await login('pete', 'pete-password');
    const sa = await live(a.accessToken);
    const sb = await live(b.accessToken);
    expect((await call('POST', `/users/${id}/password`, { password: 'pete-new-password' })).statusCode).toBe(
      200,
    );
    expect((await sa.closed).code).toBe(4401);
    expect((await sb.closed).code).toBe(4401);
    for (const p of [a, b]) {
      const r = await me(p.accessToken);
      expect(r.status).toBe(401);
      expect(((await r.json()) as { code: string }).code).toBe('token_revoked');
    }
  });

  it('logout ends that login (access token and socket), not the user’s other logins', async () => {
    await user('lou', 'viewer');
    const a = await login('lou', 'lou-password');
    const b = await login('lou', 'lou-password');
    const sa = await live(a.accessToken);
    const sb = await live(b.accessToken);
    const out = await fetch(`http://${base}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: a.refreshToken }),
    });
    expect(out.status).toBe(200);
    expect((await sa.closed).code).toBe(4401);
    expect((await me(a.accessToken)).status).toBe(401);
    expect((await me(b.accessToken)).status).toBe(200);
    await ping(sb);
    expect(sb.isOpen()).toBe(true);
    sb.ws.close();
  });

  it('a refresh token used twice revokes its login: the access tokens of that login stop at once', async () => {
    await user('rita', 'viewer');
    const a = await login('rita', 'rita-password');
    const sock = await live(a.accessToken);
    const refresh = (token: string) =>
      fetch(`http://${base}/api/v1/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken: token }),
      });
    const next = (await (await refresh(a.refreshToken)).json()) as Pair;
    expect((await me(next.accessToken)).status).toBe(200);
    // the stolen copy of the first refresh token is used: the whole login is revoked
    expect((await refresh(a.refreshToken)).status).toBe(401);
    expect((await sock.closed).code).toBe(4401);
    expect((await me(next.accessToken)).status).toBe(401);
    expect((await me(a.accessToken)).status).toBe(401);
  });

  it('a socket closes when its token expires; tokens without exp (or without version) are refused', async () => {
    const id = await user('tess', 'viewer');
    const pair = await login('tess', 'tess-password');
    const claims = JSON.parse(Buffer.from(pair.accessToken.split('.')[1]!, 'base64url').toString()) as {
      tv: number;
      fam: string;
    };
    const key = new TextEncoder().encode(t.config.jwtSecret);
    const sign = (c: Record<string, unknown>, exp?: number) => {
      let j = new SignJWT(c)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(id)
        .setIssuedAt()
        .setIssuer('ggnet');
      if (exp !== undefined) j = j.setExpirationTime(exp);
      return j.sign(key);
    };
    // the server's own kind of token, valid for 2 more seconds
    const short = await sign(
      { role: 'viewer', username: 'tess', tv: claims.tv, fam: claims.fam },
      Math.floor(Date.now() / 1000) + 2,
    );
    expect((await me(short)).status).toBe(200);
    const sock = await live(short);
    const closed = await sock.closed;
    expect(closed.code).toBe(4401);
    expect(sock.events.map((e) => e.code)).toContain('token_expired');
    const expired = await me(short);
    expect(((await expired.json()) as { code: string }).code).toBe('token_expired');
    // no exp: never accepted, not by the API and not by the socket
    const forever = await sign({ role: 'viewer', username: 'tess', tv: claims.tv, fam: claims.fam });
    expect((await me(forever)).status).toBe(401);
    await expect(live(forever)).rejects.toThrow(/unauthorized/);
    // a token of the right key without the token version / login claims (an older GGnet's) is refused
    const old = await sign({ role: 'viewer', username: 'tess' }, Math.floor(Date.now() / 1000) + 600);
    expect((await me(old)).status).toBe(401);
  });

  it('a change made by another process (the CLI) reaches requests within seconds', async () => {
    const id = await user('cleo', 'viewer');
    const pair = await login('cleo', 'cleo-password');
    expect((await me(pair.accessToken)).status).toBe(200);
    // what `ggnet user passwd` does in its own process: no in-process notification here
    await t.container.repos.users.bumpTokenVersion(id, new Date().toISOString());
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      await sleep(100);
      status = (await me(pair.accessToken)).status;
    }
    expect(status).toBe(401);
  });

  it('the admin’s own session keeps working throughout', async () => {
    expect((await call('GET', '/auth/me')).statusCode).toBe(200);
    expect((await login('admin', ADMIN_PASSWORD)).user.role).toBe('admin');
  });
});
