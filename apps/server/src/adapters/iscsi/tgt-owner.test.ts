import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TGT_PORT_TAKEN_RE, describeForeign, lockKey, netnsOf, parseLockHolder } from './tgt-owner.js';

const LOCKS = `1: POSIX  ADVISORY  WRITE 4112 fe:00:1564678 0 0
1: -> POSIX  ADVISORY  WRITE 5000 fe:00:1564678 0 0
2: FLOCK  ADVISORY  WRITE 900 00:19:77 0 EOF
3: POSIX  ADVISORY  WRITE 777 00:19:1234 0 EOF
`;

describe('tgtd control port owner', () => {
  it('reads the holder of a POSIX lock from /proc/locks (not a waiter, not another file)', () => {
    expect(parseLockHolder(LOCKS, 'fe:00:1564678')).toBe(4112);
    expect(parseLockHolder(LOCKS, '00:19:1234')).toBe(777);
    expect(parseLockHolder(LOCKS, '00:19:77')).toBeNull();
    expect(parseLockHolder(LOCKS, 'fe:00:1')).toBeNull();
  });

  it('keys a file as /proc/locks does (hex major:minor, inode)', () => {
    const d = mkdtempSync(join(tmpdir(), 'ggnet-lock-'));
    try {
      const f = join(d, 'socket.1.lock');
      writeFileSync(f, '');
      expect(lockKey(f)).toMatch(/^[0-9a-f]{2,}:[0-9a-f]{2,}:\d+$/);
      expect(lockKey(join(d, 'missing'))).toBeNull();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("names the foreign holder and knows tgtd's own words for a taken port", () => {
    expect(describeForeign(7300, 42, true).message).toMatch(
      /^another tgtd \(pid 42, in another network namespace\) holds control port 7300 \(\/var\/run\/tgtd\/socket\.7300\.lock\)/,
    );
    expect(
      TGT_PORT_TAKEN_RE.exec('ipc_init(787) another tgtd is using /var/run/tgtd/socket.7300.lock')?.[1],
    ).toBe('7300');
    expect(netnsOf('self')).toMatch(/^net:\[\d+\]$/);
  });
});
