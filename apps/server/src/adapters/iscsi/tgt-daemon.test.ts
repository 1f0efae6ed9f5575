import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createTgtDaemon } from './tgt-daemon.js';
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
});
