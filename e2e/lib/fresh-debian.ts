import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import {
  request as httpRequest,
  createServer as createHttpServer,
  type Server as HttpServer,
} from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FORWARDER } from './ggnet.js';
import { GiveUp, alive, killPid, sh, waitFor } from '@ggnet/testkit';

/**
 * A fresh Debian server in a container, for the tests of scripts/run.sh and deploy/install.sh:
 * a root built with mmdebstrap (Debian's packages only, apt as configured on the host), cached
 * under /var/tmp keyed by what goes into it, copied for each test, and booted with
 * `systemd-nspawn --boot` (systemd as PID 1) inside a network namespace the test creates.
 *
 * Test scaffolding (never part of the product): the host's extra CA certificates are trusted in
 * the root (this workplace reaches the registries through them), and the container reaches the
 * package registries, and nothing else, through an HTTP proxy the test runs (see EgressProxy).
 */

export const FRESH_CACHE = process.env.GGNET_FRESH_CACHE ?? '/var/tmp/ggnet-fresh';
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const ROOT_BUILDER_VERSION = '2';

export type Suite = 'trixie' | 'bookworm';

/** Why the fresh-Debian tests cannot run here, or null. */
export function freshDebianUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mmdebstrap, systemd-nspawn, network namespaces)';
  for (const cmd of ['mmdebstrap', 'systemd-nspawn', 'nsenter', 'ip']) {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    } catch {
      return `${cmd} is not installed (bash scripts/install-deps.sh test)`;
    }
  }
  return null;
}

/**
 * A Debian root (mmdebstrap minbase + `include`), built once and kept under FRESH_CACHE, keyed by
 * suite, package list and builder version. Returns its directory (read-only: copy it to use it).
 */
export async function debianRoot(suite: Suite, include: string[], log: (l: string) => void): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify({ v: ROOT_BUILDER_VERSION, suite, include: [...include].sort(), DEBIAN_MIRROR }))
    .digest('hex')
    .slice(0, 12);
  const dir = join(FRESH_CACHE, `root-${suite}-${key}`);
  if (existsSync(join(dir, '.ggnet-root-complete'))) {
    log(`root ${suite}: cached ${dir}`);
    return dir;
  }
  mkdirSync(FRESH_CACHE, { recursive: true });
  const tmp = `${dir}.build-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const t0 = Date.now();
  log(`root ${suite}: building ${dir} with mmdebstrap (${include.join(' ')})`);
  await sh(
    'mmdebstrap',
    [
      '--variant=minbase',
      '--quiet',
      '--aptopt=APT::Install-Recommends "false"',
      `--include=${include.join(',')}`,
      suite,
      tmp,
      DEBIAN_MIRROR,
    ],
    { timeoutMs: 900_000 },
  );
  writeFileSync(join(tmp, '.ggnet-root-complete'), `${new Date().toISOString()}\n`);
  // another run may have finished the same root meanwhile: keep the first
  if (existsSync(dir)) rmSync(tmp, { recursive: true, force: true });
  else renameSync(tmp, dir);
  log(`root ${suite}: built in ${Math.round((Date.now() - t0) / 1000)} s`);
  return dir;
}

/**
 * A writable view of a cached root for one test: an overlay mount (the cached root stays
 * untouched below, the test's changes land in `<dir>/upper`), with the CA scaffolding of this
 * workplace (the host's extra certificates trusted, so that npm and apt reach the registries as
 * the host does). Returns the mounted root.
 */
export async function overlayRoot(
  base: string,
  dir: string,
): Promise<{ root: string; unmount: () => Promise<void> }> {
  await purgeStaleRuns();
  await unmountRoot(dir);
  rmSync(dir, { recursive: true, force: true });
  const root = join(dir, 'root');
  for (const d of ['upper', 'work', 'root']) mkdirSync(join(dir, d), { recursive: true });
  await sh('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${base},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`,
    root,
  ]);
  rmSync(join(root, '.ggnet-root-complete'), { force: true });
  const extra = '/usr/local/share/ca-certificates';
  if (existsSync(extra)) {
    const crts = readdirSync(extra).filter((f) => f.endsWith('.crt'));
    if (crts.length) {
      mkdirSync(join(root, extra), { recursive: true });
      for (const f of crts) copyFileSync(join(extra, f), join(root, extra, f));
      await sh('chroot', [root, 'update-ca-certificates', '--fresh'], { timeoutMs: 120_000 });
    }
  }
  return {
    root,
    unmount: async () => {
      await unmountRoot(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run directories and socket directories of test processes that are gone (killed runs). */
async function purgeStaleRuns(): Promise<void> {
  let names: string[] = [];
  try {
    names = readdirSync(FRESH_CACHE);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = /^run-[a-z0-9]+-(\d+)$/.exec(n)?.[1] ?? /^s-(\d+)-[a-z0-9]+$/.exec(n)?.[1];
    if (!pid || alive(Number(pid))) continue;
    await unmountRoot(join(FRESH_CACHE, n));
    rmSync(join(FRESH_CACHE, n), { recursive: true, force: true });
  }
}

async function unmountRoot(dir: string): Promise<void> {
  const root = join(dir, 'root');
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  if (!mounts.split('\n').some((l) => l.split(' ')[1] === root)) return;
  await sh('umount', [root]).catch(() => sh('umount', ['-l', root]));
}

/** The environment a root shell on a fresh server has (no host npm settings leak in). */
export const CLEAN_ENV: Record<string, string> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  TERM: 'dumb',
  USER: 'root',
  LOGNAME: 'root',
};

/** Scaffolding for commands that reach the registries: the proxy and the CA bundle. */
export function registryEnv(proxyUrl: string): Record<string, string> {
  return {
    http_proxy: proxyUrl,
    https_proxy: proxyUrl,
    HTTP_PROXY: proxyUrl,
    HTTPS_PROXY: proxyUrl,
    npm_config_cafile: '/etc/ssl/certs/ca-certificates.crt',
    NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
  };
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command on the host and collects exit code and output (no throw). */
function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; logFile?: string },
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      if (child.pid) void killPid(child.pid, 2000);
    }, opts.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r = {
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        ms: Date.now() - t0,
      };
      if (opts.logFile)
        writeFileSync(
          opts.logFile,
          `$ ${args.join(' ')}\n# exit ${r.code} after ${r.ms} ms\n${r.stdout}\n--- stderr\n${r.stderr}\n`,
          {
            flag: 'a',
          },
        );
      resolve(r);
    });
  });
}

/**
 * A network namespace of this test, with loopback only: the container inside reaches nothing but
 * what the test forwards into it (the registry proxy); the test reaches GGnet through it.
 */
export class TestNetns {
  readonly name: string;
  constructor(tag: string) {
    this.name = `ggf-${process.pid}-${tag}`;
  }
  up(): void {
    TestNetns.purgeStale();
    execFileSync('ip', ['netns', 'add', this.name]);
    execFileSync('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
  }
  /** Removes namespaces of earlier runs whose test process is gone (by the PIDs inside them). */
  static purgeStale(): void {
    let list: string[] = [];
    try {
      list = execFileSync('ip', ['netns', 'list'])
        .toString()
        .split('\n')
        .map((l) => l.split(' ')[0]!);
    } catch {
      return;
    }
    for (const ns of list) {
      const m = /^ggf-(\d+)-/.exec(ns);
      if (!m || alive(Number(m[1]))) continue;
      new TestNetns('x').downNamed(ns);
    }
  }
  private downNamed(ns: string): void {
    let pids: number[] = [];
    try {
      pids = execFileSync('ip', ['netns', 'pids', ns]).toString().split('\n').filter(Boolean).map(Number);
    } catch {
      /* gone */
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      /* gone */
    }
  }
  /** Kills (by PID) what still runs in the namespace and deletes it. */
  down(): void {
    this.downNamed(this.name);
  }
}

// Runs inside the namespace: TCP listener on loopback piped to a unix socket (a path the host sees).
const TCP_TO_UNIX = `
const net = require('net');
const [port, sock] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.connect(sock);
  c.pipe(u).pipe(c);
  u.on('error', () => c.destroy()); c.on('error', () => u.destroy());
}).listen(Number(port), '127.0.0.1');
`;
/**
 * An HTTP proxy on the host for the container: CONNECT (https) and plain GET (apt over http) to
 * the package registries' hosts only; anything else is refused with 403. Its socket is a unix
 * socket; a forwarder inside the namespace offers it on 127.0.0.1:3128 there.
 */
export class EgressProxy {
  private server: HttpServer | null = null;
  readonly refused: string[] = [];
  readonly allowed = new Set<string>();

  constructor(
    readonly socket: string,
    hosts: string[],
  ) {
    for (const h of hosts) this.allowed.add(h.toLowerCase());
  }

  async start(): Promise<void> {
    rmSync(this.socket, { force: true });
    const server = createHttpServer((req, res) => {
      // plain http through the proxy: absolute URI
      let url: URL;
      try {
        url = new URL(req.url ?? '');
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (url.protocol !== 'http:' || !this.allowed.has(url.hostname.toLowerCase())) {
        this.refused.push(url.host);
        res.writeHead(403).end('not a package registry');
        return;
      }
      const up = httpRequest(
        {
          host: url.hostname,
          port: url.port || 80,
          path: `${url.pathname}${url.search}`,
          method: req.method,
          headers: { ...req.headers, host: url.host },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    server.on('connect', (req, client, head) => {
      const [host, port] = (req.url ?? '').split(':');
      if (!host || !this.allowed.has(host.toLowerCase()) || port !== '443') {
        this.refused.push(req.url ?? '');
        client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      const up = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        up.pipe(client).pipe(up);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    await new Promise<void>((ok) => server.listen(this.socket, ok));
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((ok) => s.close(() => ok()));
    }
    rmSync(this.socket, { force: true });
  }
}

export interface ContainerOptions {
  name: string;
  root: string;
  netns: TestNetns;
  artifacts: string;
  /** host dir -> container dir */
  binds?: Array<[string, string]>;
}

/**
 * A container booted with `systemd-nspawn --boot` in the test's namespace. Commands run in it
 * through nsenter (as a root shell on that server would run them, with a clean environment).
 */
export class BootedContainer {
  private nspawn: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  private boots = 0;
  private readonly helpers: ChildProcess[] = [];

  constructor(readonly o: ContainerOptions) {}

  get nspawnPid(): number | null {
    return this.nspawn?.pid ?? null;
  }

  async boot(): Promise<void> {
    const n = ++this.boots;
    const fd = openSync(join(this.o.artifacts, `console-${n}.log`), 'a');
    const binds = (this.o.binds ?? []).flatMap(([h, c]) => [`--bind=${h}:${c}`]);
    let child: ChildProcess;
    try {
      // --network-namespace-path, not `ip netns exec` (which remounts /sys without the cgroup tree)
      child = spawn(
        'systemd-nspawn',
        [
          `--network-namespace-path=/run/netns/${this.o.netns.name}`,
          '--quiet',
          '--boot',
          // a server has CAP_NET_ADMIN (dnsmasq needs it for DHCP); nspawn keeps it only for
          // containers with a network of their own, which this one has (the test's namespace)
          '--capability=CAP_NET_ADMIN',
          '--register=no',
          '--keep-unit',
          `--machine=${this.o.name}`,
          `--directory=${this.o.root}`,
          ...binds,
        ],
        { stdio: ['ignore', fd, fd] },
      );
    } finally {
      closeSync(fd);
    }
    this.nspawn = child;
    this.exited = new Promise((ok) => child.once('exit', (code) => ok(code)));
    await waitFor(
      `the container ${this.o.name} to boot (console-${n}.log)`,
      async () => {
        if (child.exitCode !== null) throw new GiveUp(`systemd-nspawn exited with ${child.exitCode}`);
        const r = await this.exec('systemctl is-system-running', { timeoutMs: 10_000, quiet: true }).catch(
          () => null,
        );
        const state = r?.stdout.trim();
        return state === 'running' || state === 'degraded' ? state : null;
      },
      180_000,
      500,
    );
  }

  /** PID (on the host) of the container's init: the child of systemd-nspawn. */
  leaderPid(): number {
    const pid = this.nspawn?.pid;
    if (!pid) throw new Error('container not running');
    // the nspawn process is `pid`; its child is the container's init
    const kids = readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
    for (const k of kids) {
      try {
        const status = readFileSync(`/proc/${k}/status`, 'utf8');
        if (/^NSpid:\s+\d+\s+1$/m.test(status)) return k;
      } catch {
        /* gone */
      }
    }
    throw new Error(`no init process under systemd-nspawn ${pid}`);
  }

  /** Runs `bash -c cmd` inside the container as root with a clean environment (+ env). */
  async exec(
    cmd: string,
    opts: { env?: Record<string, string>; timeoutMs?: number; quiet?: boolean; check?: boolean } = {},
  ): Promise<ExecResult> {
    const leader = this.leaderPid();
    const env = Object.entries({ ...CLEAN_ENV, ...(opts.env ?? {}) }).map(([k, v]) => `${k}=${v}`);
    const r = await run(
      'nsenter',
      [
        `--target=${leader}`,
        '--mount',
        '--uts',
        '--ipc',
        '--net',
        '--pid',
        '--root',
        '--wd',
        '--',
        '/usr/bin/env',
        '-i',
        ...env,
        '/bin/bash',
        '-c',
        cmd,
      ],
      {
        timeoutMs: opts.timeoutMs ?? 120_000,
        logFile: opts.quiet ? undefined : join(this.o.artifacts, 'exec.log'),
      },
    );
    if (opts.check && r.code !== 0)
      throw new Error(
        `in ${this.o.name}: \`${cmd}\` exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
      );
    return r;
  }

  /** Starts a helper process inside the test's namespace (not the container): e.g. a forwarder. */
  helper(args: string[], logName: string): ChildProcess {
    const fd = openSync(join(this.o.artifacts, logName), 'a');
    try {
      const c = spawn('ip', ['netns', 'exec', this.o.netns.name, ...args], { stdio: ['ignore', fd, fd] });
      this.helpers.push(c);
      return c;
    } finally {
      closeSync(fd);
    }
  }

  /** The registry proxy, offered inside the namespace on 127.0.0.1:<port>. */
  forwardProxy(socket: string, port = 3128): string {
    this.helper(['node', '-e', TCP_TO_UNIX, String(port), socket], 'proxy-forwarder.log');
    return `http://127.0.0.1:${port}`;
  }

  /**
   * A TCP port on the namespace's loopback (GGnet, nginx) offered to the test as a port on the
   * host's loopback (unix socket + local relay).
   */
  async expose(
    port: number,
    socketDir: string,
  ): Promise<{ url: (scheme?: string) => string; close: () => Promise<void> }> {
    const sock = join(socketDir, `fwd-${port}.sock`);
    this.helper(['node', '-e', FORWARDER, sock, String(port)], `forwarder-${port}.log`);
    await waitFor(`forwarder socket for port ${port}`, () => existsSync(sock), 10_000, 50);
    const conns = new Set<Socket>();
    const server = createServer((c) => {
      conns.add(c);
      c.on('close', () => conns.delete(c));
      const u = connect(sock);
      c.pipe(u).pipe(c);
      u.on('error', () => c.destroy());
      c.on('error', () => u.destroy());
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const a = server.address();
    const local = typeof a === 'object' && a ? a.port : 0;
    return {
      url: (scheme = 'http') => `${scheme}://127.0.0.1:${local}`,
      close: async () => {
        for (const c of conns) c.destroy();
        await new Promise<void>((ok) => server.close(() => ok()));
      },
    };
  }

  /** `systemctl reboot` inside: nspawn exits (133) and is started again on the same root. */
  async reboot(): Promise<void> {
    await this.exec('systemctl reboot', { timeoutMs: 30_000 });
    const code = await Promise.race([this.exited, sleep(120_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') throw new Error('the container did not go down for the reboot');
    await this.boot();
  }

  /** Powers the container off (systemctl poweroff), else kills nspawn by PID; stops the helpers. */
  async stop(): Promise<void> {
    const child = this.nspawn;
    if (child && child.exitCode === null) {
      await this.exec('systemctl poweroff', { timeoutMs: 20_000, quiet: true }).catch(() => undefined);
      const done = await Promise.race([this.exited.then(() => true), sleep(60_000).then(() => false)]);
      if (!done && child.pid) await killPid(child.pid, 10_000);
    }
    this.nspawn = null;
    for (const h of this.helpers.splice(0)) if (h.pid && h.exitCode === null) await killPid(h.pid, 2000);
  }
}

/** Copies this checkout (tracked and untracked files, not ignored ones: no node_modules, no dist) to dest. */
export async function copyCheckout(repo: string, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  const files = (await sh('git', ['-C', repo, 'ls-files', '-z', '-c', '-o', '--exclude-standard'])).split(
    '\0',
  );
  const list = files.filter((f) => f && existsSync(join(repo, f)));
  const listFile = join(dest, '..', `.files-${process.pid}`);
  writeFileSync(listFile, list.join('\0'));
  await sh(
    'tar',
    ['-C', repo, '--null', '-T', listFile, '-cf', join(dest, '..', `.src-${process.pid}.tar`)],
    {
      timeoutMs: 120_000,
    },
  );
  await sh('tar', ['-C', dest, '-xf', join(dest, '..', `.src-${process.pid}.tar`)], { timeoutMs: 120_000 });
  rmSync(listFile, { force: true });
  rmSync(join(dest, '..', `.src-${process.pid}.tar`), { force: true });
}

/**
 * What a root holds, for "changed nothing" checks: every path (except the kernel's and the
 * runtime's file systems) with its type, mode, size and mtime, plus the installed package list.
 */
export async function snapshotRoot(root: string): Promise<{ files: Map<string, string>; packages: string }> {
  const out = await sh(
    'find',
    [
      root,
      '-xdev',
      '(',
      '-path',
      `${root}/proc`,
      '-o',
      '-path',
      `${root}/sys`,
      '-o',
      '-path',
      `${root}/dev`,
      '-o',
      '-path',
      `${root}/run`,
      '-o',
      '-path',
      `${root}/tmp`,
      ')',
      '-prune',
      '-o',
      '-printf',
      '%P\\t%y %m %s %T@\\n',
    ],
    { timeoutMs: 120_000 },
  );
  const files = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [p, v] = line.split('\t');
    if (p !== undefined && v !== undefined) files.set(p, v);
  }
  const packages = await sh('chroot', [root, 'dpkg-query', '-W', '-f', '${Package} ${Version} ${Status}\\n']);
  return { files, packages };
}

/** Differences between two snapshots ("+ path", "- path", "~ path"). */
export function diffSnapshots(
  a: { files: Map<string, string> },
  b: { files: Map<string, string> },
): string[] {
  const d: string[] = [];
  for (const [p, v] of b.files) {
    const was = a.files.get(p);
    if (was === undefined) d.push(`+ ${p}`);
    else if (was !== v) d.push(`~ ${p} (${was} -> ${v})`);
  }
  for (const p of a.files.keys()) if (!b.files.has(p)) d.push(`- ${p}`);
  return d;
}

/** Runs one command in a root with systemd-nspawn (no boot, no network at all). */
export function nspawnRun(
  root: string,
  cmd: string,
  logFile: string,
  timeoutMs = 300_000,
): Promise<ExecResult> {
  const env = Object.entries(CLEAN_ENV).flatMap(([k, v]) => [`--setenv=${k}=${v}`]);
  return run(
    'systemd-nspawn',
    [
      '--quiet',
      '--register=no',
      '--keep-unit',
      '--private-network',
      '--console=pipe',
      `--directory=${root}`,
      ...env,
      '/bin/bash',
      '-c',
      cmd,
    ],
    { timeoutMs, logFile },
  );
}

/** Packages of the cached Debian 13 root: a minimal server with systemd (no Node.js). */
export const TRIXIE_BASE = ['systemd-sysv', 'dbus', 'ca-certificates', 'hostname'];

/** The packages deploy/install.sh installs on a fresh Debian 13 (scripts/install-deps.sh --list runtime). */
export function runtimePackages(repo: string): string[] {
  return execFileSync('bash', [join(repo, 'scripts/install-deps.sh'), '--list', 'runtime'])
    .toString()
    .split('\n')
    .filter(Boolean);
}

export interface FreshServer {
  root: string;
  ct: BootedContainer;
  netns: TestNetns;
  proxy: EgressProxy;
  /** The registry proxy as the container sees it. */
  proxyUrl: string;
  /** Directory for the test's unix sockets. */
  sockets: string;
  /** Saves the journal and daemon logs to the artifacts, stops everything by PID, deletes the copy. */
  close(): Promise<void>;
}

/**
 * A fresh Debian 13 server for one test file: a copy of a cached root (+ `packages`), the
 * checkout in /root/ggnet, booted with systemd in the test's network namespace, with download
 * caches (npm, apt) bind-mounted and the registry proxy forwarded in.
 */
export async function startFreshServer(o: {
  tag: string;
  repo: string;
  artifacts: string;
  packages?: string[];
  log: (l: string) => void;
  timed: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  /** Extra set-up of the namespace before the boot (interfaces). */
  netSetup?: (ns: string) => void;
  /**
   * /dev/fuse in the container, mode 0666 as udev makes it on a real server (a container has no
   * udev): the host's node is bound elsewhere (which lets the container use the device) and the
   * container's systemd-tmpfiles creates /dev/fuse at every boot, before any unit starts.
   */
  fuse?: boolean;
}): Promise<FreshServer> {
  const runDir = join(FRESH_CACHE, `run-${o.tag}-${process.pid}`);
  const sockets = join(FRESH_CACHE, `s-${process.pid}-${o.tag}`);
  mkdirSync(sockets, { recursive: true });
  const netns = new TestNetns(o.tag);
  const proxy = new EgressProxy(join(sockets, 'proxy.sock'), [
    NPM_REGISTRY_HOST,
    new URL(DEBIAN_MIRROR).hostname,
  ]);
  const base = await o.timed('root', () =>
    debianRoot('trixie', [...TRIXIE_BASE, ...(o.packages ?? [])], o.log),
  );
  const { root, unmount } = await o.timed('copy', async () => {
    const r = await overlayRoot(base, runDir);
    await copyCheckout(o.repo, join(r.root, 'root', 'ggnet'));
    if (o.fuse)
      writeFileSync(
        join(r.root, 'etc/tmpfiles.d/e2e-fuse.conf'),
        '# test scaffolding (no udev in a container)\nc /dev/fuse 0666 root root - 10:229\n',
      );
    return r;
  });
  netns.up();
  o.netSetup?.(netns.name);
  await proxy.start();
  const npmCache = join(FRESH_CACHE, 'npm-cache');
  const aptCache = join(FRESH_CACHE, 'apt-archives-trixie');
  mkdirSync(npmCache, { recursive: true });
  mkdirSync(join(aptCache, 'partial'), { recursive: true });
  const ct = new BootedContainer({
    name: `ggf-${o.tag}-${process.pid}`,
    root,
    netns,
    artifacts: o.artifacts,
    // download caches only: the installs themselves run for real
    binds: [
      [npmCache, '/root/.npm'],
      [aptCache, '/var/cache/apt/archives'],
      ...(o.fuse ? ([['/dev/fuse', '/run/host-fuse']] as Array<[string, string]>) : []),
    ],
  });
  await o.timed('boot', () => ct.boot());
  const proxyUrl = ct.forwardProxy(proxy.socket);
  return {
    root,
    ct,
    netns,
    proxy,
    proxyUrl,
    sockets,
    close: async () => {
      try {
        for (const [cmd, file] of [
          ['journalctl --no-pager -b', 'journal.log'],
          ['cat /var/lib/ggnet/logs/*.log', 'daemons.log'],
        ] as const) {
          const r = await ct.exec(cmd, { quiet: true, timeoutMs: 30_000 }).catch(() => null);
          if (r) writeFileSync(join(o.artifacts, file), r.stdout + r.stderr);
        }
      } finally {
        await ct.stop();
        await proxy.stop();
        netns.down();
        o.log(`refused by the registry proxy: ${JSON.stringify(proxy.refused)}`);
        await unmount();
        rmSync(sockets, { recursive: true, force: true });
      }
    },
  };
}

export const NPM_REGISTRY_HOST = 'registry.npmjs.org';

/** Step log and timings of a test file (artifacts steps.log, timings.json). */
export function stepsOf(artifacts: string) {
  const timings: Record<string, number> = {};
  const log = (l: string) =>
    writeFileSync(join(artifacts, 'steps.log'), `${new Date().toISOString()} ${l}\n`, { flag: 'a' });
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round((Date.now() - t0) / 1000);
      writeFileSync(join(artifacts, 'timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
      log(`${name}: ${timings[name]} s`);
    }
  };
  return { timings, log, timed };
}
