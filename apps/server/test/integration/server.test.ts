import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/config.schema.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { ADMIN_PASSWORD, createPgDatabase, describeEachDialect } from '../helpers/test-context.js';

/** The real thing: `startServer` listening on a socket, talked to with fetch and a WebSocket client. */
describeEachDialect('listening server', (dialect) => {
  let server: RunningServer;
  let dataDir: string;
  let dropDb: (() => Promise<void>) | null = null;
  let token: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ggnet-srv-'));
    let databaseUrl: string | undefined;
    if (dialect === 'postgres') {
      const db = await createPgDatabase();
      databaseUrl = db.url;
      dropDb = db.drop;
    }
    const config = ConfigSchema.parse({
      dataDir,
      databaseUrl,
      host: '127.0.0.1',
      port: 0,
      adminPassword: ADMIN_PASSWORD,
      logLevel: 'silent',
    });
    server = await startServer(config, {
      log: pino({ level: 'silent' }),
      version: 'test',
      announce: () => undefined,
    });
    const res = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    token = ((await res.json()) as { accessToken: string }).accessToken;
  });
  afterAll(async () => {
    await server?.stop();
    await dropDb?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...(init.headers ?? {}),
      },
    });

  it('serves health, readiness and Prometheus metrics', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toMatchObject({ status: 'ok' });
    // readyz says ready, nothing about where the database is
    expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ready' });
    await api('/api/v1/machines');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('ggnet_http_request_duration_seconds_bucket');
    expect(metrics).toMatch(/route="\/api\/v1\/machines"/);
    expect(metrics).toContain('ggnet_process_');
  });

  it('readyz names what holds the disk service (another process) only to this host, not to the boot LAN', async () => {
    const iscsi = server.container.iscsi;
    const real = iscsi.notReady.bind(iscsi);
    iscsi.notReady = () => ({
      reason: 'iscsi_conflict',
      detail: 'tgtd control port 7300: another tgtd (pid 4242) holds it: /usr/sbin/tgtd -f --secret',
    });
    try {
      const lan = await server.app.inject({ url: '/readyz', remoteAddress: '10.20.0.7' });
      expect(lan.statusCode).toBe(503);
      expect(lan.json()).toEqual({ status: 'not_ready', reason: 'iscsi_conflict' });
      const local = await server.app.inject({ url: '/readyz', remoteAddress: '127.0.0.1' });
      expect(local.statusCode).toBe(503);
      expect(local.json().detail).toContain('pid 4242');
    } finally {
      iscsi.notReady = real;
    }
    expect((await server.app.inject({ url: '/readyz', remoteAddress: '10.20.0.7' })).statusCode).toBe(200);
  });

  it('answers with request ids and problem+json for unknown routes', async () => {
    const res = await fetch(`${server.url}/api/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const body = (await res.json()) as { requestId: string; code: string };
    expect(body.code).toBe('not_found');
    expect(res.headers.get('x-request-id')).toBe(body.requestId);
    const mine = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'trace-abc-123456' } });
    expect(mine.headers.get('x-request-id')).toBe('trace-abc-123456');
  });

  it('documents the API: OpenAPI 3.1 JSON and the docs page', async () => {
    const spec = (await (await fetch(`${server.url}/api/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(spec.openapi).toBe('3.1.0');
    for (const p of [
      '/api/v1/machines',
      '/api/v1/machines/{id}',
      '/api/v1/images/{id}/versions/{versionId}/publish',
      '/api/v1/settings',
      '/api/v1/audit',
      '/api/v1/jobs/{id}/cancel',
      '/api/v1/sessions/{id}/stop',
    ]) {
      expect(spec.paths, p).toHaveProperty([p]);
    }
    const docs = await fetch(`${server.url}/api/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });

  it('pushes live events over the WebSocket (token in the query or in the first message)', async () => {
    const wsUrl = `${server.url.replace('http', 'ws')}/api/v1/events`;
    const open = (url: string, first?: object) =>
      new Promise<{ ws: WebSocket; messages: Array<{ type: string; id?: string; data?: unknown }> }>(
        (resolve, reject) => {
          const ws = new WebSocket(url);
          const messages: Array<{ type: string }> = [];
          ws.on('message', (raw: Buffer) => {
            const m = JSON.parse(raw.toString()) as { type: string };
            messages.push(m);
            if (m.type === 'ready') resolve({ ws, messages });
            if (m.type === 'error') reject(new Error(JSON.stringify(m)));
          });
          ws.on('open', () => first && ws.send(JSON.stringify(first)));
          ws.on('error', reject);
        },
      );
    const a = await open(`${wsUrl}?token=${token}`);
    const b = await open(wsUrl, { type: 'auth', token });
    const res = await api('/api/v1/machines', {
      method: 'POST',
      body: JSON.stringify({ name: 'pc-live', mac: '52:54:00:00:80:01' }),
    });
    const created = (await res.json()) as { id: string };
    const wait = async (c: { messages: Array<{ type: string; id?: string }> }) => {
      for (let i = 0; i < 50 && !c.messages.some((m) => m.type === 'machine.created'); i++)
        await new Promise((r) => setTimeout(r, 20));
      return c.messages.find((m) => m.type === 'machine.created');
    };
    expect(await wait(a)).toMatchObject({
      type: 'machine.created',
      id: created.id,
      data: { name: 'pc-live', status: 'offline' },
    });
    expect(await wait(b)).toMatchObject({ id: created.id });
    a.ws.close();
    b.ws.close();

    // user account events go to admins only
    await server.container.users.create({ username: 'watcher', password: 'watcher-pw-1', role: 'viewer' });
    const vLogin = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'watcher', password: 'watcher-pw-1' }),
    });
    const viewerToken = ((await vLogin.json()) as { accessToken: string }).accessToken;
    const v = await open(`${wsUrl}?token=${viewerToken}`);
    const adm = await open(`${wsUrl}?token=${token}`);
    await api('/api/v1/users', {
      method: 'POST',
      body: JSON.stringify({ username: 'newbie', password: 'newbie-pw-1' }),
    });
    await api('/api/v1/machines', {
      method: 'POST',
      body: JSON.stringify({ name: 'pc-after', mac: '52:54:00:00:80:02' }),
    });
    for (let i = 0; i < 50 && !v.messages.some((m) => m.type === 'machine.created'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(v.messages.map((m) => m.type)).toContain('machine.created');
    expect(v.messages.map((m) => m.type)).not.toContain('user.created');
    expect(adm.messages.map((m) => m.type)).toContain('user.created');
    v.ws.close();
    adm.ws.close();

    // a bad token is answered with an error message and the socket is closed
    const closed = await new Promise<{ code: number; msg: string }>((resolve) => {
      const ws = new WebSocket(`${wsUrl}?token=forged`);
      let msg = '';
      ws.on('message', (raw: Buffer) => (msg = raw.toString()));
      ws.on('close', (code) => resolve({ code, msg }));
    });
    expect(closed.code).toBe(4401);
    expect(closed.msg).toContain('unauthorized');
  });
});
