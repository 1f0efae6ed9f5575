import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killLeftoverTgtd } from '@ggnet/testkit';

export const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const ADMIN_PASSWORD = 'e2e-admin-password';

export interface GgnetServer {
  url: string;
  dataDir: string;
  pid: number;
  /** Everything the server printed (for failure messages). */
  output(): string;
  /** SIGTERM (as systemd does) and `ggnet serve` again on the same data dir and port (pass GGNET_PORT). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the real `ggnet serve` (built API + built web UI) on 127.0.0.1 with a free port (port 0:
 * the server reports the one it got) and its own temporary data dir and SQLite database. `stop()`
 * ends it by its PID and removes the data dir.
 */
export async function startGgnet(env: Record<string, string> = {}): Promise<GgnetServer> {
  const bin = join(REPO, 'apps/server/bin/ggnet.js');
  if (
    !existsSync(join(REPO, 'apps/server/dist/cli.js')) ||
    !existsSync(join(REPO, 'apps/web/dist/index.html'))
  ) {
    throw new Error('build first: npm run build (the browser tests drive the built server and UI)');
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'ggnet-e2e-web-'));
  // its own tgtd: a random control port and a portal on loopback (never 0.0.0.0:3260)
  const iscsiPort = await freeTcpPort();
  let out = '';
  const launch = async (): Promise<{ child: ChildProcess; url: string }> => {
    const child: ChildProcess = spawn(process.execPath, [bin, 'serve'], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        GGNET_DATA_DIR: dataDir,
        GGNET_HOST: '127.0.0.1',
        GGNET_PORT: '0',
        GGNET_ADMIN_PASSWORD: ADMIN_PASSWORD,
        GGNET_LOG_LEVEL: 'info',
        GGNET_DHCP_MODE: 'off',
        GGNET_TGT_CONTROL_PORT: String(10000 + Math.floor(Math.random() * 22000)),
        GGNET_ISCSI_PORTAL: `127.0.0.1:${iscsiPort}`,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const startup = new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`ggnet serve did not start within 30 s:\n${out}`)),
        30_000,
      );
      const onData = (b: Buffer) => {
        out += b.toString('utf8');
        for (const line of out.split('\n')) {
          if (!line.includes('GGnet is up')) continue;
          try {
            const rec = JSON.parse(line) as { url?: string };
            if (rec.url) {
              clearTimeout(timer);
              resolveUrl(rec.url);
              return;
            }
          } catch {
            // not a JSON log line
          }
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`ggnet serve exited with ${code}:\n${out}`));
      });
    });
    let url: string;
    try {
      url = await startup;
    } catch (err) {
      // never leave a half-started server behind
      if (child.exitCode === null) child.kill('SIGKILL');
      killLeftoverTgtd(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
    return { child, url };
  };
  let { child, url } = await launch();
  const server: GgnetServer = {
    url,
    dataDir,
    pid: child.pid!,
    output: () => out,
    restart: async () => {
      const old = child;
      if (old.exitCode === null) {
        const exited = new Promise<void>((r) => old.once('exit', () => r()));
        process.kill(old.pid!, 'SIGTERM');
        await exited;
      }
      ({ child, url } = await launch());
      server.url = url;
      server.pid = child.pid!;
    },
    stop: async () => {
      const pid = child.pid!;
      if (child.exitCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        process.kill(pid, 'SIGTERM');
        const t = setTimeout(() => child.exitCode === null && process.kill(pid, 'SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      killLeftoverTgtd(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Logs in through the API and returns the access token (for test set-up, not for the UI). */
export async function apiToken(url: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw new Error(`login ${username}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

export async function apiCall<T>(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1' }, () => {
      const a = srv.address();
      srv.close(() => resolvePort(typeof a === 'object' && a ? a.port : 0));
    });
  });
}
