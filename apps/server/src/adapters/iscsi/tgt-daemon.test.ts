import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createTgtDaemon, tgtdEnv } from './tgt-daemon.js';
import type { TgtDriver } from './tgt.adapter.js';

describe('createTgtDaemon', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const driver = { healthy: async () => true } as unknown as TgtDriver;

  it('runs tgtd in the foreground on its own control port, with NOP pings so dead initiators are dropped', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ggnet-tgtd-'));
    dirs.push(dataDir);
    const d = createTgtDaemon(
      { dataDir, controlPort: 7301, portal: '10.0.0.1:3260' },
      driver,
      pino({ level: 'silent' }),
    );
    expect(d.spec.args).toEqual([
      '-f',
      '-C',
      '7301',
      '--iscsi',
      'portal=10.0.0.1:3260,nop_interval=5,nop_count=3',
    ]);
    expect(d.spec.pidFile).toBe(join(dataDir, 'run', 'tgtd.7301.pid'));
    const e = createTgtDaemon(
      { dataDir, controlPort: 7302, portal: '0.0.0.0:3260', nopIntervalSec: 10, nopCount: 6 },
      driver,
      pino({ level: 'silent' }),
    );
    expect(e.spec.args.at(-1)).toBe('portal=0.0.0.0:3260,nop_interval=10,nop_count=6');
  });

  it('starts tgtd with its data buffers in the heap (glibc mmap threshold 32 MiB), unless told not to', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ggnet-tgtd-'));
    dirs.push(dataDir);
    const log = pino({ level: 'silent' });
    const on = createTgtDaemon(
      { dataDir, controlPort: 7303, portal: '0.0.0.0:3260', env: { PATH: '/usr/bin' } },
      driver,
      log,
    );
    expect(on.spec.env).toEqual({ PATH: '/usr/bin', GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=33554432' });
    const off = createTgtDaemon(
      { dataDir, controlPort: 7304, portal: '0.0.0.0:3260', env: { PATH: '/usr/bin' }, heapBuffers: false },
      driver,
      log,
    );
    expect(off.spec.env).toEqual({ PATH: '/usr/bin' });
  });
});

describe('tgtdEnv', () => {
  it("adds the tunable to an admin's GLIBC_TUNABLES and keeps the admin's own value of it", () => {
    expect(tgtdEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES).toBe(
      'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=33554432',
    );
    expect(tgtdEnv({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576' }).GLIBC_TUNABLES).toBe(
      'glibc.malloc.mmap_threshold=1048576',
    );
    // an empty or malformed variable is not carried over as an empty tunable
    expect(tgtdEnv({ GLIBC_TUNABLES: ':' }).GLIBC_TUNABLES).toBe('glibc.malloc.mmap_threshold=33554432');
    const base = { A: '1' };
    expect(tgtdEnv(base, false)).toBe(base);
  });
});
