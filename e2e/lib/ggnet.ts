import { createServer, connect, type Server, type Socket } from 'node:net';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BootNet } from './netns.js';
import { GiveUp, waitFor, type Proc, type Procs } from '@ggnet/testkit';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const ADMIN_PASSWORD = 'e2e-admin-password';

// Runs inside the namespace: a unix socket (a path, visible from the host) forwarded to GGnet's
// port on the namespace's loopback. The test reaches GGnet only through it, never over a host network.
export const FORWARDER = `
const net = require('net'); const fs = require('fs');
const [sock, port] = process.argv.slice(1);
try { fs.unlinkSync(sock); } catch {}
net.createServer((c) => {
  const u = net.connect(Number(port), '127.0.0.1');
  c.pipe(u).pipe(c);
  u.on('error', () => c.destroy()); c.on('error', () => u.destroy());
}).listen(sock);
`;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    super(`${what}: HTTP ${status} ${JSON.stringify(body)}`);
  }
}

/** A JSON client for GGnet's API (through the forwarder on 127.0.0.1). */
export class Api {
  token: string | null = null;
  constructor(readonly baseUrl: string) {}

  async req<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* text */
    }
    if (!res.ok) throw new ApiError(res.status, parsed, `${method} ${path}`);
    return parsed as T;
  }
  get = <T = unknown>(p: string) => this.req<T>('GET', p);
  post = <T = unknown>(p: string, b?: unknown) => this.req<T>('POST', p, b ?? {});
  patch = <T = unknown>(p: string, b: unknown) => this.req<T>('PATCH', p, b);
  put = <T = unknown>(p: string, b: unknown) => this.req<T>('PUT', p, b);

  async login(password = ADMIN_PASSWORD): Promise<void> {
    const r = await this.req<{ accessToken: string }>('POST', '/api/v1/auth/login', {
      username: 'admin',
      password,
    });
    this.token = r.accessToken;
  }
}

export interface GGnetOptions {
  net: BootNet;
  procs: Procs;
  dataDir: string;
  artifacts: string;
  /** GGNET_* variables (DHCP mode, boot interface...). */
  env: Record<string, string>;
  port?: number;
}

/**
 * GGnet as it runs in production (`ggnet serve` from the build), inside the test's namespace,
 * with its own dnsmasq and tgtd there. Restartable (same data dir) to test that booted clients survive.
 */
export class GGnetUnderTest {
  private proc: Proc | null = null;
  private forwarder: Proc | null = null;
  private hostServer: Server | null = null;
  private readonly conns = new Set<Socket>();
  private starts = 0;
  readonly port: number;
  readonly socket: string;
  api!: Api;

  constructor(private readonly o: GGnetOptions) {
    this.port = o.port ?? 8080;
    this.socket = join(o.dataDir, '..', 'api.sock');
    mkdirSync(o.dataDir, { recursive: true, mode: 0o755 });
  }

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  async start(): Promise<void> {
    const cli = join(REPO, 'apps', 'server', 'bin', 'ggnet.js');
    if (!existsSync(join(REPO, 'apps', 'server', 'dist', 'cli.js')))
      throw new Error('apps/server/dist is missing: run `npm run build` first (scripts/test.sh does)');
    const n = ++this.starts;
    const env = {
      ...process.env,
      GGNET_DATA_DIR: this.o.dataDir,
      GGNET_HOST: '0.0.0.0',
      GGNET_PORT: String(this.port),
      GGNET_ADMIN_PASSWORD: ADMIN_PASSWORD,
      GGNET_LOG_LEVEL: 'info',
      GGNET_RECONCILE_INTERVAL: '5',
      ...this.o.env,
    };
    const [cmd, args] = this.o.net.exec(['node', cli, 'serve']);
    this.proc = this.o.procs.start(`ggnet-${n}`, cmd, args, {
      logFile: join(this.o.artifacts, `ggnet-${n}.log`),
      env,
    });
    if (!this.forwarder) {
      const [fc, fa] = this.o.net.exec(['node', '-e', FORWARDER, this.socket, String(this.port)]);
      this.forwarder = this.o.procs.start('forwarder', fc, fa, {
        logFile: join(this.o.artifacts, 'forwarder.log'),
      });
      await waitFor('the API forwarder socket', () => existsSync(this.socket), 10_000);
    }
    if (!this.hostServer) {
      const sock = this.socket;
      this.hostServer = createServer((c) => {
        this.conns.add(c);
        c.on('close', () => this.conns.delete(c));
        const u = connect(sock);
        c.pipe(u).pipe(c);
        u.on('error', () => c.destroy());
        c.on('error', () => u.destroy());
      });
      await new Promise<void>((ok) => this.hostServer!.listen(0, '127.0.0.1', ok));
      const a = this.hostServer.address();
      this.api = new Api(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
    }
    const proc = this.proc;
    await waitFor(
      'GGnet to answer /readyz',
      async () => {
        if (proc.child.exitCode !== null)
          throw new GiveUp(`ggnet serve exited with ${proc.child.exitCode} (see ggnet-${n}.log)`);
        const r = await fetch(`${this.api.baseUrl}/readyz`, { signal: AbortSignal.timeout(3000) });
        return r.ok;
      },
      60_000,
      250,
    );
    await this.api.login();
  }

  /** SIGTERM, as systemd would; waits until the process is gone. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p) await p.stop(20_000);
  }

  async close(): Promise<void> {
    await this.stop();
    await this.forwarder?.stop();
    this.forwarder = null;
    for (const c of this.conns) c.destroy();
    await new Promise<void>((ok) => (this.hostServer ? this.hostServer.close(() => ok()) : ok()));
    this.hostServer = null;
  }
}
