import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SupervisedDaemon } from './supervisor.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const log = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real daemon: a node process that writes a ready file and runs until killed. */
function spec(dir: string, extra: Partial<ConstructorParameters<typeof SupervisedDaemon>[0]> = {}) {
  const ready = join(dir, 'ready');
  return {
    name: 'testd',
    command: process.execPath,
    args: [
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(ready)}, String(process.pid)); setInterval(() => {}, 1000)`,
    ],
    logFile: join(dir, 'testd.log'),
    pidFile: join(dir, 'testd.pid'),
    healthCheck: async () => existsSync(ready) && alive(Number(readFileSync(ready, 'utf8'))),
    healthIntervalMs: 100,
    startTimeoutMs: 5000,
    ...extra,
  };
}

function tmp() {
  const d = mkdtempSync(join(tmpdir(), 'ggnet-sup-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('SupervisedDaemon', () => {
  it('starts, restarts a daemon that dies, and stops it', async () => {
    const d = tmp();
    const s = new SupervisedDaemon(spec(d), log);
    cleanups.push(() => s.stop(true));
    await s.start();
    const pid1 = s.pid!;
    expect(alive(pid1)).toBe(true);
    expect(readFileSync(join(d, 'testd.pid'), 'utf8').trim()).toBe(String(pid1));
    rmSync(join(d, 'ready'));
    process.kill(pid1, 'SIGKILL');
    const restarted = new Promise((r) => s.once('restarted', r));
    await restarted;
    expect(s.pid).not.toBe(pid1);
    expect(alive(s.pid!)).toBe(true);
    expect(s.state).toBe('running');
    const pid2 = s.pid!;
    await s.stop(true);
    await sleep(50);
    expect(alive(pid2)).toBe(false);
    expect(existsSync(join(d, 'testd.pid'))).toBe(false);
  });

  it('keeps the daemon on shutdown when asked, and a new supervisor adopts it', async () => {
    const d = tmp();
    const s1 = new SupervisedDaemon(spec(d, { keepOnShutdown: true }), log);
    await s1.start();
    const pid = s1.pid!;
    cleanups.push(() => {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    await s1.stop();
    expect(alive(pid)).toBe(true);
    const s2 = new SupervisedDaemon(spec(d, { keepOnShutdown: true }), log);
    await s2.start();
    expect(s2.adopted).toBe(true);
    expect(s2.pid).toBe(pid);
    await s2.stop(true);
    await sleep(50);
    expect(alive(pid)).toBe(false);
  });

  it('restarts a daemon that stops answering its health check', async () => {
    const d = tmp();
    let healthy = true;
    const base = spec(d);
    const s = new SupervisedDaemon(
      { ...base, unhealthyAfter: 2, healthCheck: async () => healthy && (await base.healthCheck(0)) },
      log,
    );
    cleanups.push(() => s.stop(true));
    await s.start();
    const pid1 = s.pid!;
    healthy = false;
    await sleep(400);
    healthy = true;
    await new Promise((r) => s.once('restarted', r));
    expect(s.pid).not.toBe(pid1);
    expect(alive(pid1)).toBe(false);
  });

  it('fails start with the log tail when the daemon exits at once', async () => {
    const d = tmp();
    const s = new SupervisedDaemon(
      {
        ...spec(d),
        args: ['-e', 'console.error("bad config line 3"); process.exit(2)'],
        startTimeoutMs: 2000,
      },
      log,
    );
    await expect(s.start()).rejects.toThrow(/exited with 2.*bad config line 3/);
  });

  it('a resource held by a foreign process: conflict, nothing spawned or asked; started once it is free', async () => {
    const d = tmp();
    let holder: string | null = 'another testd (pid 4242) holds the port';
    let checks = 0;
    const base = spec(d);
    const s = new SupervisedDaemon(
      {
        ...base,
        foreign: () => holder,
        healthCheck: async (pid) => {
          checks++;
          return base.healthCheck(pid);
        },
      },
      log,
    );
    cleanups.push(() => s.stop(true));
    const conflicts: string[] = [];
    s.on('conflict', (c: string) => conflicts.push(c));
    await expect(s.start()).rejects.toThrow(/testd: another testd \(pid 4242\) holds the port/);
    expect(s.state).toBe('conflict');
    expect(s.conflict).toBe(holder);
    expect(s.serving).toBe(false);
    await sleep(350);
    // no restart loop against it, no health check through it, reported once
    expect(s.pid).toBeNull();
    expect(checks).toBe(0);
    expect(conflicts).toHaveLength(1);
    holder = null;
    await new Promise((r) => s.once('restarted', r));
    expect(s.state).toBe('running');
    expect(s.conflict).toBeNull();
    expect(alive(s.pid!)).toBe(true);
  });
});
