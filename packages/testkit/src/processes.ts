import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { removeTgtSocket } from './ports.js';

const execFileP = promisify(execFile);

/** Runs a tool (argument array, never a shell) and returns its stdout; throws with stderr on failure. */
export async function sh(
  cmd: string,
  args: string[],
  opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  if (opts.input !== undefined) {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0
          ? resolve(Buffer.concat(out).toString())
          : reject(
              new Error(`${cmd} ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString().trim()}`),
            ),
      );
      child.stdin.end(opts.input);
    });
  }
  try {
    const r = await execFileP(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return r.stdout;
  } catch (e) {
    const x = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(x.stderr ?? '').trim() || x.message}`);
  }
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Sends SIGTERM, then SIGKILL after `graceMs`, to one PID; waits until it is gone. */
export async function killPid(pid: number, graceMs = 5000): Promise<void> {
  for (const [sig, wait] of [
    ['SIGTERM', graceMs],
    ['SIGKILL', 3000],
  ] as const) {
    if (!alive(pid)) return;
    try {
      process.kill(pid, sig);
    } catch {
      return;
    }
    const until = Date.now() + wait;
    while (Date.now() < until && alive(pid)) await sleep(50);
  }
}

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
}

/** Background processes a test starts: remembered by PID and stopped by PID at the end (also on failure). */
export class Procs {
  private readonly list: Proc[] = [];

  start(name: string, cmd: string, args: string[], opts: { logFile: string; env?: NodeJS.ProcessEnv }): Proc {
    const fd = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    if (!child.pid) throw new Error(`cannot start ${cmd}`);
    const pid = child.pid;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const p: Proc = {
      name,
      pid,
      child,
      exited,
      stop: async (graceMs = 5000) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        await killPid(pid, graceMs);
        await Promise.race([exited, sleep(2000)]);
      },
    };
    this.list.push(p);
    return p;
  }

  async stopAll(): Promise<void> {
    for (const p of this.list.reverse()) await p.stop().catch(() => undefined);
    this.list.length = 0;
  }
}

/** Polls until fn returns a truthy value or the time is up. */
/** Thrown inside a waitFor callback to stop waiting at once (the awaited thing cannot happen any more). */
export class GiveUp extends Error {}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      last = e;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      );
    await sleep(everyMs);
  }
}

/** tgtd outlives `ggnet serve` on purpose (booted clients keep their disks): stop it by the PID in its pid file. */
export function killLeftoverTgtd(dataDir: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(join(dataDir, 'run'));
  } catch {
    return;
  }
  for (const n of names) {
    const port = /^tgtd\.(\d+)\.pid$/.exec(n)?.[1];
    if (!port) continue;
    const pid = Number(readFileSync(join(dataDir, 'run', n), 'utf8').trim());
    try {
      if (pid > 1) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    removeTgtSocket(Number(port));
  }
}

/** The PID in a pid file, if that process is alive. */
export function alivePid(pidFile: string): number | null {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return pid > 1 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** `tgtadm --op show --mode target` of the tgtd on `controlPort`: its live targets, LUNs, ACLs, sessions. */
export const tgtShowTargets = (controlPort: number): Promise<string> =>
  sh('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', '--op', 'show', '--mode', 'target']);

/** Runs a tool and never throws: its stdout, or '' when it failed (clean-up must go on). */
const tryTool = (cmd: string, args: string[]): Promise<string> =>
  execFileP(cmd, args, { timeout: 30_000 }).then(
    (r) => r.stdout,
    () => '',
  );

/**
 * Last resort when a test or bench ends: a tgtd it started (GGnet's own, on `controlPort`) loses
 * its targets, is asked to exit, then is stopped by its PID (SIGKILL after 2 s); its socket files go.
 */
export async function stopTgtd(controlPort: number, pid: number | null): Promise<void> {
  const C = ['-C', String(controlPort)];
  const show = await tgtShowTargets(controlPort).catch(() => '');
  for (const m of show.matchAll(/^Target (\d+):/gm)) {
    await tryTool('tgtadm', [
      ...C,
      '--lld',
      'iscsi',
      '--op',
      'delete',
      '--mode',
      'target',
      '--force',
      '--tid',
      m[1]!,
    ]);
  }
  await tryTool('tgtadm', [...C, '--op', 'delete', '--mode', 'system']);
  if (pid) await killPid(pid, 2000);
  removeTgtSocket(controlPort);
}
