import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_PASSWORD,
  REPO,
  apiToken,
  startGgnet,
  type GgnetServer,
} from './browser/helpers/ggnet-server.js';
import { killPid, waitFor } from './lib/proc.js';

const NGINX = '/usr/sbin/nginx';
const run = promisify(execFile);

const freePort = () =>
  new Promise<number>((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => ok(typeof a === 'object' && a ? a.port : 0));
    });
  });

/**
 * The nginx site GGnet ships (deploy/nginx/ggnet.conf), run by a real nginx in front of a real
 * `ggnet serve`, both on loopback. Only the two addresses are changed: upstream port and listen
 * address. What it must do for GGnet: serve the console and API, stream a big resumable upload to
 * GGnet without buffering it to disk, and pass the WebSocket of live events.
 */
describe.skipIf(!existsSync(NGINX))('deploy: nginx in front of GGnet (deploy/nginx/ggnet.conf)', () => {
  let ggnet: GgnetServer;
  let dir: string;
  let nginx: ChildProcess | null = null;
  let base: string;

  beforeAll(async () => {
    ggnet = await startGgnet();
    dir = mkdtempSync(join(tmpdir(), 'ggnet-nginx-'));
    // nginx's workers run as an unprivileged user: they must reach their temp dirs in here
    chmodSync(dir, 0o755);
    const port = await freePort();
    const shipped = readFileSync(join(REPO, 'deploy/nginx/ggnet.conf'), 'utf8');
    const site = shipped
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${new URL(ggnet.url).port};`)
      .replace('listen 80;', `listen 127.0.0.1:${port};`);
    expect(site).not.toBe(shipped);
    expect(site).not.toMatch(/listen 80;|:8080;/);
    writeFileSync(join(dir, 'ggnet.conf'), site);
    const temp = (n: string) => `${n}_temp_path ${join(dir, n)};`;
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        'daemon off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')} info;`,
        'events { worker_connections 64; }',
        'http {',
        `  access_log ${join(dir, 'access.log')};`,
        `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
        `  include ${join(dir, 'ggnet.conf')};`,
        '}',
        '',
      ].join('\n'),
    );
    const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')];
    await run(NGINX, ['-t', ...args]);
    nginx = spawn(NGINX, args, { stdio: 'ignore' });
    base = `http://127.0.0.1:${port}`;
    await waitFor(
      'nginx to proxy /healthz',
      async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok ?? false,
      20_000,
      100,
    );
  }, 60_000);

  afterAll(async () => {
    if (nginx?.pid) await killPid(nginx.pid);
    await ggnet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the console and the API, streams a resumable upload unbuffered, passes the events WebSocket', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<div id="root">/);
    const token = await apiToken(base, 'admin', ADMIN_PASSWORD);

    // 48 MiB through tus in one PATCH, with its sha256 checked by the server
    const file = join(dir, 'disk.img');
    const data = randomBytes(48 * 1024 * 1024);
    writeFileSync(file, data);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const got = await new Promise<{ sha: string | undefined; id: string }>((ok, fail) => {
      let sha: string | undefined;
      const up: tus.Upload = new tus.Upload(createReadStream(file), {
        endpoint: `${base}/api/v1/uploads`,
        metadata: { name: 'via nginx', filename: 'disk.img', sha256 },
        headers: { authorization: `Bearer ${token}` },
        retryDelays: null,
        onAfterResponse: (_req, res) => {
          sha = res.getHeader('GGnet-Sha256') ?? sha;
        },
        onSuccess: () => ok({ sha, id: up.url!.split('/').pop()! }),
        onError: fail,
      });
      up.start();
    });
    expect(got.sha).toBe(sha256);
    // proxy_request_buffering off: nginx streamed the body, it never spooled it to a temp file
    // (nginx logs each spooled body; the file itself is gone once the request ends)
    expect(readFileSync(join(dir, 'error.log'), 'utf8')).not.toMatch(/buffered to a temporary file/);
    const img = (await (
      await fetch(`${base}/api/v1/images/${got.id}`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { sourceSha256: string; sourceSize: number };
    expect(img).toMatchObject({ sourceSha256: sha256, sourceSize: data.length });

    // the events WebSocket: nginx passes the upgrade through
    const { port } = new URL(base);
    const status = await new Promise<number>((ok, fail) => {
      const req = request({
        host: '127.0.0.1',
        port,
        path: `/api/v1/events?token=${encodeURIComponent(token)}`,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': randomBytes(16).toString('base64'),
          'sec-websocket-version': '13',
        },
      });
      req.once('upgrade', (res, socket) => {
        socket.destroy();
        ok(res.statusCode ?? 0);
      });
      req.once('response', (res) => ok(res.statusCode ?? 0));
      req.once('error', fail);
      req.end();
    });
    expect(status).toBe(101);
  });

  it('a client’s own X-Forwarded-For never picks its address; the console’s refresh cookie passes through', async () => {
    const { port } = new URL(base);
    // the client talks to nginx from 127.0.0.2; nginx appends that to the header the client made up
    const send = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string; cookie: string[] }>((ok, fail) => {
        const data = JSON.stringify(body);
        const req = request(
          {
            host: '127.0.0.1',
            port,
            localAddress: '127.0.0.2',
            method: 'POST',
            path,
            headers: { 'content-type': 'application/json', ...headers },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () =>
              ok({ status: res.statusCode ?? 0, body: text, cookie: res.headers['set-cookie'] ?? [] }),
            );
          },
        );
        req.on('error', fail);
        req.end(data);
      });
    const codes: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = await send(
        '/api/v1/auth/login',
        { username: `nobody-${i}`, password: 'wrong-password' },
        { 'x-forwarded-for': `6.6.${i}.6, 127.0.0.1` },
      );
      codes.push(r.status);
    }
    // 20 attempts per address and minute (the default), counted for the real address
    expect(codes.slice(0, 20).every((c) => c === 401)).toBe(true);
    expect(codes.slice(20).every((c) => c === 429)).toBe(true);
    const token = await apiToken(base, 'admin', ADMIN_PASSWORD);
    const audit = (await (
      await fetch(`${base}/api/v1/audit?action=auth.login&limit=100`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as { items: Array<{ username: string; ip: string }> };
    const ips = new Set(audit.items.filter((i) => i.username?.startsWith('nobody-')).map((i) => i.ip));
    expect([...ips]).toEqual(['127.0.0.2']);

    // the console's login: the refresh token comes back as an httpOnly cookie, and refreshes with it
    const csrf = { 'x-ggnet-csrf': '1', origin: base };
    const login = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...csrf },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD, refreshIn: 'cookie' }),
    });
    expect(login.status).toBe(200);
    const set = login.headers.get('set-cookie') ?? '';
    expect(set).toMatch(/^ggnet_refresh=[A-Za-z0-9_-]+; Path=\/api\/v1\/auth; .*HttpOnly; SameSite=Strict/);
    const refreshed = await fetch(`${base}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...csrf, cookie: set.split(';')[0]! },
      body: '{}',
    });
    expect(refreshed.status).toBe(200);
    expect(((await refreshed.json()) as { refreshToken?: string }).refreshToken).toBeUndefined();
  });
});
