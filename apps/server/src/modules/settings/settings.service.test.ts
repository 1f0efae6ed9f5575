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
  it('caps the boot network at a /16 and keeps network, broadcast and non-unicast addresses out', () => {
    const s = defaultSettings();
    const errs = (d: Partial<typeof s.dhcp>) => {
      Object.assign(s.dhcp, { mode: 'dhcp', iface: 'br0' }, d);
      return crossCheck(s);
    };
    const huge = errs({ netmask: '0.0.0.0', rangeStart: '1.0.0.1', rangeEnd: '223.255.255.254' });
    expect(huge).toEqual([
      {
        path: 'dhcp.netmask',
        message: expect.stringMatching(/^\/0 is too large: .* at most 65,534 addresses/),
      },
    ]);
    expect(errs({ netmask: '255.255.128.0', rangeStart: '10.0.0.1', rangeEnd: '10.0.127.254' })).toEqual([]);
    expect(errs({ netmask: '255.255.0.0', rangeStart: '10.0.0.1', rangeEnd: '10.0.255.254' })).toEqual([]);
    expect(
      errs({ netmask: '255.254.0.0' })
        .map((e) => e.message)
        .join(),
    ).toMatch(/\/15 is too large/);
    expect(errs({ netmask: '255.255.255.254', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' })).toEqual([
      { path: 'dhcp.netmask', message: expect.stringMatching(/\/31 leaves no address/) },
    ]);
    expect(errs({ netmask: '255.255.255.0', rangeStart: '10.0.0.0', rangeEnd: '10.0.0.255' })).toEqual([
      { path: 'dhcp.rangeStart', message: expect.stringContaining('network address') },
      { path: 'dhcp.rangeEnd', message: expect.stringContaining('broadcast address') },
    ]);
    expect(errs({ netmask: '255.255.255.0', rangeStart: '230.0.0.1', rangeEnd: '230.0.0.9' })).toEqual([
      { path: 'dhcp.rangeStart', message: expect.stringContaining('not a unicast address') },
      { path: 'dhcp.rangeEnd', message: expect.stringContaining('not a unicast address') },
    ]);
  });
});
