import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { parseSsTcpInfo, sportFilter, SsTcpStats } from './tcp-stats.adapter.js';

/** Real `ss -tin` output captured on Debian 12 (iproute2 6.1): tgtd + qemu-io, and a dual-stack socket. */
const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');

describe('parseSsTcpInfo', () => {
  it('reads a tgtd connection (state filter, no header): the info line is the next line', () => {
    expect(parseSsTcpInfo(fixture('ss-tin-tgtd-established.txt'))).toEqual([
      {
        local: { address: '127.0.0.1', port: 34098 },
        remote: { address: '127.0.0.1', port: 45556 },
        bytesAcked: 2200,
        bytesSent: 2200,
        bytesReceived: 4219872,
      },
    ]);
  });

  it('reads the same with the header and the State column', () => {
    expect(parseSsTcpInfo(fixture('ss-tin-tgtd-with-state.txt'))).toEqual(
      parseSsTcpInfo(fixture('ss-tin-tgtd-established.txt')),
    );
  });

  it('reads IPv6 and v4-mapped addresses; a counter ss leaves out (0) is 0; retransmits are not reads', () => {
    const conns = parseSsTcpInfo(fixture('ss-tin-ipv6-dual-stack.txt'));
    expect(conns).toEqual([
      {
        local: { address: '::1', port: 33021 },
        remote: { address: '::1', port: 41160 },
        bytesAcked: 1_000_000,
        bytesSent: 1_014_848,
        bytesReceived: 70_000,
      },
      {
        local: { address: '127.0.0.1', port: 33021 },
        remote: { address: '127.0.0.1', port: 49214 },
        bytesAcked: 1_000_000,
        bytesSent: 1_000_000,
        bytesReceived: 0,
      },
    ]);
  });

  it('reads -O (one line per socket) and an interface scope; skips lines it does not understand', () => {
    const text = [
      'ESTAB 0 0 [fe80::1]%eth0:3260 [fe80::2]%eth0:50000 cubic bytes_acked:10 bytes_received:20',
      'garbage line',
      '',
    ].join('\n');
    expect(parseSsTcpInfo(text)).toEqual([
      {
        local: { address: 'fe80::1', port: 3260 },
        remote: { address: 'fe80::2', port: 50000 },
        bytesAcked: 10,
        bytesSent: 0,
        bytesReceived: 20,
      },
    ]);
    expect(parseSsTcpInfo('')).toEqual([]);
  });
});

describe('SsTcpStats', () => {
  it('runs ss by argument array with a filter on the given local ports', async () => {
    const runner = new FakeProcessRunner().on('ss', { stdout: fixture('ss-tin-tgtd-established.txt') });
    const stats = new SsTcpStats(runner);
    const conns = await stats.connections([34098, 3261]);
    expect(runner.lines()).toEqual(['ss -H -t -i -n state established ( sport = :34098 or sport = :3261 )']);
    expect(conns.map((c) => c.remote.port)).toEqual([45556]);
    // a connection on another local port (ss filtered badly) is left out
    expect(await stats.connections([3260])).toEqual([]);
    // no ports: no call
    expect(await stats.connections([])).toEqual([]);
    expect(runner.calls).toHaveLength(2);
  });

  it('refuses a port that is not one', () => {
    expect(() => sportFilter([0])).toThrow(/not a TCP port/);
    expect(() => sportFilter([70000])).toThrow(/not a TCP port/);
    expect(sportFilter([3260])).toEqual(['(', 'sport', '=', ':3260', ')']);
  });
});
