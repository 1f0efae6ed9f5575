import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeControlPort, freePort, killTgtd } from '../helpers/iscsi.js';

/** The real `ggnet` binary (apps/server/bin/ggnet.js -> dist/cli.js), as users run it. */
const BIN = resolve(import.meta.dirname, '../../bin/ggnet.js');
const DIST = resolve(import.meta.dirname, '../../dist/cli.js');

describe('ggnet command line', () => {
  let dataDir: string;
  beforeAll(() => {
    if (!existsSync(DIST))
      throw new Error('apps/server/dist is missing: run `npm run build` first (scripts/test.sh does)');
    dataDir = mkdtempSync(join(tmpdir(), 'ggnet-cli-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const run = (args: string[], env: Record<string, string> = {}, input?: string) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, GGNET_DATA_DIR: dataDir, GGNET_LOG_LEVEL: 'silent', ...env },
      input,
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('prints help and version', () => {
    expect(run(['help']).out).toContain('ggnet <command>');
    expect(run(['version']).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = run(['frobnicate']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('unknown command');
  });

  it('prints the effective config with secrets masked, and names the key of invalid config', () => {
    const r = run(['config'], {
      GGNET_ADMIN_PASSWORD: 'super-secret-pw',
      GGNET_DATABASE_URL: 'postgres://u:hunter2@db/x',
      GGNET_PORT: '9999',
    });
    expect(r.code).toBe(0);
    const cfg = JSON.parse(r.out);
    expect(cfg).toMatchObject({ port: 9999, dataDir, adminPassword: '********' });
    expect(r.out).not.toContain('super-secret-pw');
    expect(r.out).not.toContain('hunter2');
    const bad = run(['config'], { GGNET_PORT: 'abc' });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('GGNET_PORT');
  });

  it('migrates, and manages users', () => {
    expect(run(['migrate']).out).toMatch(/applied 0001-initial/);
    expect(run(['migrate']).out).toContain('up to date');
    const c = run(['user', 'create', 'Bob', '--role', 'operator', '--password-stdin'], {}, 'bob-password\n');
    expect(c.code).toBe(0);
    expect(c.out).toContain('created operator bob');
    expect(run(['user', 'create', 'bob', '--password', 'another-pw']).err).toContain('already exists');
    expect(run(['user', 'create', 'eve', '--role', 'root', '--password', 'eve-password']).err).toContain(
      'invalid role',
    );
    expect(run(['user', 'create', 'eve', '--password', 'short']).code).toBe(1);
    const gen = run(['user', 'create', 'carol']);
    expect(gen.out).toMatch(/created viewer carol with password: \S{12,}/);
    const list = run(['user', 'list']);
    expect(list.out).toMatch(/bob\s+operator\s+enabled/);
    expect(list.out).toMatch(/carol\s+viewer/);
    expect(run(['user', 'passwd', 'bob', '--password', 'bob-password-2']).out).toContain(
      'password of bob changed',
    );
    expect(run(['user', 'passwd', 'nobody', '--password', 'whatever-pw']).code).toBe(1);
  });

  it('doctor prints a table and fails when required tools are missing', () => {
    const ok = run(['doctor'], { GGNET_STORAGE_RESERVE: '1024' });
    expect(ok.out).toMatch(/^CHECK\s+STATUS\s+DETAIL/);
    for (const name of [
      'qemu-img',
      'tgtd',
      'tgtadm',
      'targetcli',
      'dnsmasq',
      'iPXE binaries',
      '/dev/kvm',
      'free space',
      'reflink',
      'port 8080/tcp',
      'port 67/udp',
      'port 69/udp',
      'port 3260/tcp',
    ]) {
      expect(ok.out).toContain(name);
    }
    // scripts/install-deps.sh test installs every required tool
    expect(ok.code, ok.out).toBe(0);
    // a first run: the data dir does not exist yet, the checks measure its parent filesystem
    const fresh = run(['doctor'], {
      GGNET_STORAGE_RESERVE: '1024',
      GGNET_DATA_DIR: join(dataDir, 'not', 'yet'),
    });
    expect(fresh.code, fresh.out).toBe(0);
    expect(fresh.out).toContain('not created yet');
    const missing = run(['doctor'], { PATH: '/nonexistent', GGNET_STORAGE_RESERVE: '1024' });
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/qemu-img\s+FAIL/);
    expect(missing.out).toContain('required check(s) failed');
  });

  it('serve: first start prints the generated admin password, answers, and stops cleanly on SIGTERM; the data dir is owner-only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-serve-'));
    // what an older GGnet left: a 0755 data dir with files everyone can read
    const old: Record<string, number> = {
      'secrets/jwt-secret': 0o644,
      'writebacks/00000000-0000-4000-8000-000000000001.raw': 0o644,
      'tftp/undionly.kpxe': 0o600,
    };
    for (const [f, m] of Object.entries(old)) {
      mkdirSync(dirname(join(dir, f)), { recursive: true, mode: 0o755 });
      writeFileSync(join(dir, f), f.startsWith('secrets') ? `${'s'.repeat(48)}\n` : 'x', { mode: m });
      chmodSync(join(dir, f), m);
    }
    chmodSync(dir, 0o755);
    // serve starts its own tgtd, which outlives it on purpose: a port of its own, loopback, stopped below
    const controlPort = freeControlPort();
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: {
        PATH: process.env.PATH,
        GGNET_DATA_DIR: dir,
        GGNET_TGT_CONTROL_PORT: String(controlPort),
        // one tgtd (the default is one per core, on control ports next to this one that were not checked free)
        GGNET_TGT_DAEMONS: '1',
        GGNET_ISCSI_PORTAL: `127.0.0.1:${await freePort()}`,
        GGNET_PORT: '0',
        GGNET_HOST: '127.0.0.1',
        GGNET_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const url = await new Promise<string>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no start: ${out}`)), 30_000);
        child.stdout.on('data', () => {
          const m = /"url":"(http:\/\/[^"]+)".*"msg":"GGnet is up"/.exec(out);
          if (m) {
            clearTimeout(timer);
            res(m[1]!);
          }
        });
      });
      const pw = /generated password: (\S+)/.exec(out)?.[1];
      expect(pw).toBeTruthy();
      expect(out).not.toMatch(/"msg":"[^"]*password: (?!\[printed)/); // the log line does not carry it
      const login = await fetch(`${url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: pw }),
      });
      expect(login.status).toBe(200);

      // everything in the data dir is GGnet's only; dnsmasq (dropping root) may pass through the
      // data dir to its TFTP root and hosts file, nothing else
      const token = ((await login.json()) as { accessToken: string }).accessToken;
      const auth = { authorization: `Bearer ${token}` };
      const img = (await (
        await fetch(`${url}/api/v1/images`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'modes' }),
        })
      ).json()) as { id: string };
      const put = await fetch(`${url}/api/v1/images/${img.id}/content?filename=disk.raw`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(1024 * 1024, 7),
      });
      expect(put.status, await put.clone().text()).toBeLessThan(300);
      let state = '';
      for (let i = 0; i < 100 && state !== 'ready' && state !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        state = (
          (await (await fetch(`${url}/api/v1/images/${img.id}`, { headers: auth })).json()) as {
            state: string;
          }
        ).state;
      }
      expect(state).toBe('ready');
      const mode = (p: string) => statSync(join(dir, p)).mode & 0o7777;
      expect(mode('.')).toBe(0o711);
      expect(mode('ggnet.db')).toBe(0o600);
      expect(mode('ggnet.db-wal')).toBe(0o600);
      expect(mode('secrets')).toBe(0o700);
      expect(mode('secrets/jwt-secret')).toBe(0o600);
      expect(mode('writebacks')).toBe(0o700);
      expect(mode('writebacks/00000000-0000-4000-8000-000000000001.raw')).toBe(0o600);
      expect(mode('tftp')).toBe(0o755);
      expect(mode('tftp/undionly.kpxe')).toBe(0o644);
      expect(mode('dnsmasq')).toBe(0o711);
      const walk = (rel: string): string[] =>
        readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
          const r = rel ? `${rel}/${e.name}` : e.name;
          return e.isDirectory() ? [r, ...walk(r)] : [r];
        });
      const open = walk('').filter((r) => !/^(tftp|dnsmasq)(\/|$)/.test(r) && (mode(r) & 0o077) !== 0);
      expect(open).toEqual([]);
      // the converted version (made by qemu-img as a child of serve) is among them
      expect(walk('images').some((r) => r.endsWith('.raw'))).toBe(true);
      const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(out).toContain('shutting down');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      // every tgtd serve started (one per pid file), each by its own PID
      const pidFiles = existsSync(join(dir, 'run'))
        ? readdirSync(join(dir, 'run')).filter((n) => /^tgtd\.\d+\.pid$/.test(n))
        : [];
      for (const n of pidFiles) {
        const port = Number(/^tgtd\.(\d+)\.pid$/.exec(n)![1]);
        await killTgtd(port, Number(readFileSync(join(dir, 'run', n), 'utf8').trim()) || null);
      }
      // tgtd never started: nothing on our port was ours
      if (!pidFiles.length) await killTgtd(controlPort, null);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
