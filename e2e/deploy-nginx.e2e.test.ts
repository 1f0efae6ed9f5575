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
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, REPO, startGgnet, type GgnetServer } from './browser/helpers/ggnet-server.js';
import { killPid, waitFor } from '@ggnet/testkit';
import { selfSigned, tls, wsUpgradeStatus } from './lib/tls.js';

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
 * `ggnet serve`, both on loopback. Only addresses and certificate paths are changed: upstream
 * port, listen addresses, a test certificate. What it must do for GGnet: serve the console and API
 * over TLS, stream a big resumable upload to GGnet without buffering it to disk, pass the
 * WebSocket of live events; on plain HTTP, redirect to HTTPS except /boot/ (PXE clients).
 */
describe.skipIf(!existsSync(NGINX))('deploy: nginx in front of GGnet (deploy/nginx/ggnet.conf)', () => {
  let ggnet: GgnetServer;
  let dir: string;
  let nginx: ChildProcess | null = null;
  let base: string;
  let plain: string;
  let ca: string;

  beforeAll(async () => {
    ggnet = await startGgnet();
    dir = mkdtempSync(join(tmpdir(), 'ggnet-nginx-'));
    // nginx's workers run as an unprivileged user: they must reach their temp dirs in here
    chmodSync(dir, 0o755);
    const port = await freePort();
    const port80 = await freePort();
    const cert = selfSigned(dir);
    ca = cert.cert;
    const shipped = readFileSync(join(REPO, 'deploy/nginx/ggnet.conf'), 'utf8');
    const site = shipped
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${new URL(ggnet.url).port};`)
      .replace('listen 80;', `listen 127.0.0.1:${port80};`)
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replace(/\n\s*listen \[::\]:(80|443)( ssl)?;/g, '')
      .replace('/etc/ggnet/tls/ggnet.crt', cert.certFile)
      .replace('/etc/ggnet/tls/ggnet.key', cert.keyFile);
    expect(site).not.toMatch(/listen (80|443)|:8080;|\[::\]|\/etc\/ggnet/);
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
    base = `https://127.0.0.1:${port}`;
    plain = `http://127.0.0.1:${port80}`;
    await waitFor(
      'nginx to proxy /healthz over TLS',
      async () => (await tls(`${base}/healthz`, ca).catch(() => null))?.status === 200,
      20_000,
      100,
    );
  }, 60_000);

  afterAll(async () => {
    if (nginx?.pid) await killPid(nginx.pid);
    await ggnet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('plain HTTP: /boot/ is proxied for PXE clients, everything else is redirected to HTTPS', async () => {
    const script = await fetch(`${plain}/boot/ipxe`);
    expect(script.status).toBe(200);
    expect(await script.text()).toMatch(/^#!ipxe/);
    for (const path of ['/', '/api/v1/machines', '/api/v1/auth/login']) {
      const r = await fetch(`${plain}${path}`, { redirect: 'manual' });
      expect(r.status, path).toBe(301);
      expect(r.headers.get('location')).toBe(`https://127.0.0.1${path}`);
    }
  });

  it('HTTPS: serves the console and the API, streams a resumable upload unbuffered, passes the events WebSocket', async () => {
    const page = await tls(`${base}/`, ca);
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<div id="root">/);
    expect(page.headers['strict-transport-security']).toContain('max-age=');
    const login = await tls(`${base}/api/v1/auth/login`, ca, {
      method: 'POST',
      body: { username: 'admin', password: ADMIN_PASSWORD },
    });
    expect(login.status).toBe(200);
    const token = (JSON.parse(login.body) as { accessToken: string }).accessToken;

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
        httpStack: new tus.DefaultHttpStack({ ca }),
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
    const img = JSON.parse(
      (await tls(`${base}/api/v1/images/${got.id}`, ca, { headers: { authorization: `Bearer ${token}` } }))
        .body,
    ) as { sourceSha256: string; sourceSize: number };
    expect(img).toMatchObject({ sourceSha256: sha256, sourceSize: data.length });

    // the events WebSocket: nginx passes the upgrade through
    expect(await wsUpgradeStatus(base, ca, token)).toBe(101);
  });

  it('a client’s own X-Forwarded-For never picks its address; the console’s refresh cookie passes through', async () => {
    const { port } = new URL(base);
    // the client talks to nginx from 127.0.0.2; nginx appends that to the header the client made up
    const send = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((ok, fail) => {
        const data = JSON.stringify(body);
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            ca,
            localAddress: '127.0.0.2',
            method: 'POST',
            path,
            headers: { 'content-type': 'application/json', ...headers },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => ok({ status: res.statusCode ?? 0, body: text }));
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
    const login = await tls(`${base}/api/v1/auth/login`, ca, {
      method: 'POST',
      body: { username: 'admin', password: ADMIN_PASSWORD },
    });
    const token = (JSON.parse(login.body) as { accessToken: string }).accessToken;
    const audit = JSON.parse(
      (
        await tls(`${base}/api/v1/audit?action=auth.login&limit=100`, ca, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).body,
    ) as { items: Array<{ username: string; ip: string }> };
    const ips = new Set(audit.items.filter((i) => i.username?.startsWith('nobody-')).map((i) => i.ip));
    expect([...ips]).toEqual(['127.0.0.2']);

    // the console's login: the refresh token comes back as an httpOnly cookie, and refreshes with it
    const csrf = { 'x-ggnet-csrf': '1', origin: base };
    const cookieLogin = await tls(`${base}/api/v1/auth/login`, ca, {
      method: 'POST',
      headers: csrf,
      body: { username: 'admin', password: ADMIN_PASSWORD, refreshIn: 'cookie' },
    });
    expect(cookieLogin.status).toBe(200);
    const setCookie = cookieLogin.headers['set-cookie'];
    const set = (Array.isArray(setCookie) ? setCookie[0] : setCookie) ?? '';
    // over TLS (X-Forwarded-Proto from the trusted nginx) the cookie is Secure
    expect(set).toMatch(/^ggnet_refresh=[A-Za-z0-9_-]+; Path=\/api\/v1\/auth; .*HttpOnly; SameSite=Strict/);
    expect(set).toMatch(/; Secure/);
    const refreshed = await tls(`${base}/api/v1/auth/refresh`, ca, {
      method: 'POST',
      headers: { ...csrf, cookie: set.split(';')[0]! },
      body: {},
    });
    expect(refreshed.status).toBe(200);
    expect((JSON.parse(refreshed.body) as { refreshToken?: string }).refreshToken).toBeUndefined();
  });
});
