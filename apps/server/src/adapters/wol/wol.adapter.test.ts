import { describe, expect, it } from 'vitest';
import { broadcastOf, magicPacket, MAGIC_PACKET_BYTES } from './wol.adapter.js';

describe('magicPacket', () => {
  it('is 6 x 0xFF then the MAC 16 times (102 bytes)', () => {
    const p = magicPacket('52:54:00:AB:cd:01');
    expect(p.length).toBe(MAGIC_PACKET_BYTES);
    const expected = 'ff'.repeat(6) + '525400abcd01'.repeat(16);
    expect(p.toString('hex')).toBe(expected);
  });
  it('accepts the MAC forms GGnet accepts and refuses others', () => {
    expect(magicPacket('52-54-00-ab-cd-01').equals(magicPacket('5254.00ab.cd01'))).toBe(true);
    expect(() => magicPacket('not a mac')).toThrow(/MAC/);
    // a multicast MAC is not a machine
    expect(() => magicPacket('01:00:5e:00:00:01')).toThrow(/MAC/);
  });
});

describe('broadcastOf', () => {
  it('is the directed broadcast of the subnet', () => {
    expect(broadcastOf('10.0.0.17', '255.255.255.0')).toBe('10.0.0.255');
    expect(broadcastOf('192.168.10.1', '255.255.252.0')).toBe('192.168.11.255');
    expect(broadcastOf('10.200.3.5', '255.255.255.252')).toBe('10.200.3.7');
  });
});
