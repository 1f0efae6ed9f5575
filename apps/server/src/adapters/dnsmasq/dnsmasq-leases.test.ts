import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsmasqLeases, parseDnsmasqLeases } from './dnsmasq-leases.js';

describe('dnsmasq lease file', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('parses IPv4 leases and skips the duid line and DHCPv6 entries', () => {
    const text = [
      'duid 00:01:00:01:2c:aa:bb:cc:52:54:00:00:00:01',
      '1748779200 52:54:00:AA:00:01 10.77.0.101 pc-1 01:52:54:00:aa:00:01',
      '0 52:54:00:aa:00:02 10.77.0.102 * *',
      '1748779200 1234 fd77::5 * 00:01:00:01',
      'garbage',
    ].join('\n');
    expect(parseDnsmasqLeases(text)).toEqual([
      { expires: 1748779200, mac: '52:54:00:aa:00:01', ip: '10.77.0.101' },
      { expires: 0, mac: '52:54:00:aa:00:02', ip: '10.77.0.102' },
    ]);
  });

  it('answers the unexpired addresses of a MAC and re-reads the file when it changes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ggnet-leases-'));
    const file = join(dir, 'leases');
    let now = 1_748_779_000_000;
    const leases = new DnsmasqLeases(file, () => now);
    expect(await leases.addressesOf('52:54:00:aa:00:01')).toEqual([]);
    writeFileSync(file, '1748779200 52:54:00:aa:00:01 10.77.0.101 * *\n');
    expect(await leases.addressesOf('52:54:00:aa:00:01')).toEqual(['10.77.0.101']);
    now = 1_748_779_300_000;
    expect(await leases.addressesOf('52:54:00:aa:00:01')).toEqual([]);
    writeFileSync(
      file,
      '1748779900 52:54:00:aa:00:01 10.77.0.105 * *\n1748779900 52:54:00:aa:00:09 10.77.0.109 * *\n',
    );
    expect(await leases.addressesOf('52:54:00:aa:00:01')).toEqual(['10.77.0.105']);
  });
});
