import { describe, expect, it } from 'vitest';
import { Iqn, MachineCreate, MachineName, Settings, ZfsDataset, normalizeMac } from './index.js';

describe('normalizeMac', () => {
  it.each([
    ['52:54:00:AA:bb:01', '52:54:00:aa:bb:01'],
    ['52-54-00-aa-bb-01', '52:54:00:aa:bb:01'],
    ['5254.00aa.bb01', '52:54:00:aa:bb:01'],
    ['525400AABB01', '52:54:00:aa:bb:01'],
    ['  52:54:00:aa:bb:01 ', '52:54:00:aa:bb:01'],
  ])('accepts %s', (input, out) => {
    expect(normalizeMac(input)).toBe(out);
  });

  it.each([
    '',
    '52:54:00:aa:bb',
    '52:54:00:aa:bb:01:02',
    '52:54-00:aa:bb:01', // mixed separators
    'zz:54:00:aa:bb:01',
    '00:00:00:00:00:00',
    'ff:ff:ff:ff:ff:ff', // broadcast
    '01:00:5e:00:00:01', // multicast
    '52:54:00:aa:bb:01; rm -rf /',
    "52:54:00:aa:bb:01' OR 1=1 --",
    '５２:54:00:aa:bb:01', // full-width digit
  ])('refuses %j', (input) => {
    expect(normalizeMac(input)).toBeNull();
  });
});

describe('MachineName', () => {
  it('lower-cases and trims', () => {
    expect(MachineName.parse(' PC-01 ')).toBe('pc-01');
  });
  it.each(['-pc', 'pc-', 'pc_01', 'pc 01', 'a'.repeat(64), '', 'pc.01', 'pc;ls', '$(reboot)', 'ünïcode'])(
    'refuses %j',
    (n) => {
      expect(MachineName.safeParse(n).success).toBe(false);
    },
  );
  it('accepts 63 characters', () => {
    expect(MachineName.safeParse('a'.repeat(63)).success).toBe(true);
  });
});

describe('MachineCreate', () => {
  it('normalises and refuses unknown fields', () => {
    expect(MachineCreate.parse({ name: 'PC-1', mac: '5254.0012.3456' })).toMatchObject({
      name: 'pc-1',
      mac: '52:54:00:12:34:56',
    });
    expect(MachineCreate.safeParse({ name: 'pc-1', mac: '52:54:00:12:34:56', admin: true }).success).toBe(
      false,
    );
  });
});

describe('Iqn', () => {
  it.each(['iqn.2024-01.lan.ggnet:pc-01', 'iqn.2024-01.lan.ggnet', 'iqn.1994-05.com.redhat:abc.def'])(
    'accepts %s',
    (v) => {
      expect(Iqn.safeParse(v).success).toBe(true);
    },
  );
  it.each([
    'iqn.2024-13.lan.ggnet:pc',
    'iqn.24-01.lan:pc',
    'iqn.2024-01.lan.ggnet:PC',
    'iqn.2024-01.lan.ggnet:pc;id',
    'eui.0123456789abcdef',
  ])('refuses %s', (v) => {
    expect(Iqn.safeParse(v).success).toBe(false);
  });
});

describe('ZfsDataset', () => {
  it.each(['tank', 'tank/ggnet', 'tank/ggnet/pcs', 'Tank_1/gg-net.v2/a:b', `tank/${'x'.repeat(190)}`])(
    'accepts %j',
    (d) => {
      expect(ZfsDataset.safeParse(d).success).toBe(true);
    },
  );
  it.each([
    'tank/../..',
    'tank/..',
    '../tank',
    'tank/./x',
    'tank/.',
    'tank/.hidden',
    'tank//ggnet',
    'tank/',
    '/tank',
    '1tank',
    '-tank',
    'tank/-x',
    'tank/gg net',
    'tank/$(reboot)',
    'tank;ls',
    'tank/x\ny',
    '',
    `tank/${'x'.repeat(200)}`,
  ])('refuses %j with a message that says what a dataset looks like', (d) => {
    const r = ZfsDataset.safeParse(d);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toContain('must be a ZFS dataset such as tank/ggnet');
  });
  it('is what settings storage.zfsDataset takes', () => {
    const base = {
      network: {},
      dhcp: {},
      boot: {},
      iscsi: {},
      machines: {},
      sessions: {},
      backup: {},
      power: {},
      alerts: {},
    };
    const r = Settings.safeParse({ ...base, storage: { zfsDataset: 'tank/../..' } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path.join('.')).toBe('storage.zfsDataset');
    expect(Settings.parse({ ...base, storage: { zfsDataset: 'tank/ggnet' } }).storage.zfsDataset).toBe(
      'tank/ggnet',
    );
  });
});
