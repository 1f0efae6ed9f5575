import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ExternalDaemon, ExternalDaemonUnavailableError } from './external-daemon.js';

const log = pino({ level: 'silent' });
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A process that stands for the unit's daemon: its pid goes into the pid file, as --pidfile does. */
function daemon(pidFile: string): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  cleanups.push(() => child.kill('SIGKILL'));
  writeFileSync(pidFile, `${child.pid}\n`);
  return child;
}

const until = async (what: string, fn: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
};

describe('ExternalDaemon (a daemon its own systemd unit runs)', () => {
  const setup = () => {
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-extd-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const pidFile = join(dir, 'd.pid');
    const state = { answers: true };
    const d = new ExternalDaemon(
      {
        name: 'testd',
        unit: 'test.service',
        pidFile,
        healthCheck: async () => state.answers,
        startTimeoutMs: 400,
        healthIntervalMs: 50,
      },
      log,
    );
    cleanups.push(() => void d.stop());
    return { pidFile, state, d };
  };

  it('start waits for an answer and takes the pid from the pid file; never spawns anything', async () => {
    const { pidFile, d } = setup();
    const child = daemon(pidFile);
    await d.start();
    expect({ pid: d.pid, state: d.state, restarts: d.restartCount, adopted: d.adopted }).toEqual({
      pid: child.pid,
      state: 'running',
      restarts: 0,
      adopted: true,
    });
  });

  it('no answer within the start timeout: an error that names the unit, and state failed', async () => {
    const { state, d } = setup();
    state.answers = false;
    const err = await d.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalDaemonUnavailableError);
    expect((err as Error).message).toContain('systemctl status test.service');
    expect(d.state).toBe('failed');
  });

  it('a new pid after a known one is a restart (emitted once); a daemon that stops answering is failed, then running again', async () => {
    const { pidFile, state, d } = setup();
    const first = daemon(pidFile);
    await d.start();
    const seen: number[] = [];
    d.on('restarted', (n: number) => seen.push(n));
    // the unit restarts it: the old process is gone, a new one wrote its pid
    first.kill('SIGKILL');
    await until('the old process to be gone', () => first.exitCode !== null || first.signalCode !== null);
    const second = daemon(pidFile);
    await until('the restart to be seen', () => seen.length === 1);
    expect(d.pid).toBe(second.pid);
    expect(d.restartCount).toBe(1);
    await sleep(200);
    expect(seen).toEqual([1]);
    state.answers = false;
    await until('state failed', () => d.state === 'failed');
    state.answers = true;
    await until('state running', () => d.state === 'running');
    expect(d.restartCount).toBe(1);
  });
});
