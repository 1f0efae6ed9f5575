import { describe, expect, it } from 'vitest';
import { defaultSettings } from '@ggnet/contracts';
import { crossCheck } from './settings.service.js';

describe('settings cross-checks', () => {
  it('accepts the defaults', () => {
    expect(crossCheck(defaultSettings())).toEqual([]);
  });
  it('needs interface and range for a DHCP server', () => {
    const s = defaultSettings();
    s.dhcp.mode = 'dhcp';
    const paths = crossCheck(s).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['dhcp.iface', 'dhcp.rangeStart', 'dhcp.rangeEnd']));
  });
  it('refuses a reversed range, a range across subnets and a non-contiguous netmask', () => {
    const s = defaultSettings();
    Object.assign(s.dhcp, { mode: 'dhcp', iface: 'br0', rangeStart: '10.0.0.200', rangeEnd: '10.0.0.100' });
    expect(
      crossCheck(s)
        .map((e) => e.message)
        .join(),
    ).toMatch(/lower than/);
    Object.assign(s.dhcp, { rangeStart: '10.0.0.100', rangeEnd: '10.0.1.100' });
    expect(
      crossCheck(s)
        .map((e) => e.message)
        .join(),
    ).toMatch(/same subnet/);
    Object.assign(s.dhcp, { rangeEnd: '10.0.0.150', netmask: '255.0.255.0' });
    expect(crossCheck(s).map((e) => e.path)).toContain('dhcp.netmask');
    Object.assign(s.dhcp, { netmask: '255.255.255.0' });
    expect(crossCheck(s)).toEqual([]);
  });
});
