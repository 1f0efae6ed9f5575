import { describe, expect, it } from 'vitest';
import {
  MAX_DHCP_POOL,
  networkOf,
  pickAddresses,
  poolSize,
  renderDnsmasqConf,
  renderDnsmasqHosts,
  type DnsmasqConfig,
} from './dnsmasq-config.js';

const base: DnsmasqConfig = {
  mode: 'dhcp',
  iface: 'br0',
  bootAddr: '10.99.0.1',
  scriptUrl: 'http://10.99.0.1:8080/boot/ipxe?mac=${netX/mac}&arch=${buildarch}&platform=${platform}',
  tftpRoot: '/var/lib/ggnet/tftp',
  biosFile: 'undionly.kpxe',
  efiFile: 'snponly.efi',
  range: { start: '10.99.0.100', end: '10.99.0.199', netmask: '255.255.255.0', leaseTimeSec: 3600 },
  netmask: '255.255.255.0',
  router: null,
  dns: [],
  reservations: [{ mac: '52-54-00-AA-BB-CC', ip: '10.99.0.50', name: 'pc-01' }],
  ipv6Ra: true,
  leaseFile: '/var/lib/ggnet/dnsmasq/leases',
  pidFile: '/var/lib/ggnet/dnsmasq/dnsmasq.pid',
  user: null,
};

const lines = (text: string) => text.split('\n');

describe('renderDnsmasqConf', () => {
  it('dhcp mode: range, PXE/iPXE boot files by arch and user class, the lab tuning, reservations', () => {
    const l = lines(renderDnsmasqConf(base));
    expect(l).toContain('port=0');
    expect(l).toContain('interface=br0');
    expect(l).toContain('bind-interfaces');
    expect(l).toContain('dhcp-range=10.99.0.100,10.99.0.199,255.255.255.0,3600s');
    expect(l).toContain('no-ping');
    expect(l).toContain('dhcp-userclass=set:ipxe,iPXE');
    expect(l).toContain('dhcp-match=set:efi64,option:client-arch,7');
    expect(l).toContain('dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe,,10.99.0.1');
    expect(l).toContain('dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi,,10.99.0.1');
    expect(l).toContain(`dhcp-boot=tag:ipxe,${base.scriptUrl},,10.99.0.1`);
    expect(l).toContain('dhcp-option=tag:ipxe,encap:175,176,1b');
    expect(l).toContain('dhcp-option=option:router');
    expect(l).toContain('dhcp-host=52:54:00:aa:bb:cc,10.99.0.50,pc-01');
    expect(l).toContain('enable-ra');
    expect(l).toContain('dhcp-range=::,constructor:br0,ra-only');
    expect(l).toContain('ra-param=br0,10,0');
    expect(l).toContain('log-dhcp');
    expect(l.some((x) => x.startsWith('user='))).toBe(false);
  });

  it('proxy mode: proxy range on the boot network, pxe-service for firmware, non-zero next-server, no no-pxedhcp', () => {
    const text = renderDnsmasqConf({ ...base, mode: 'proxy', range: null, bootAddr: '192.168.1.20' });
    const l = lines(text);
    expect(l).toContain('dhcp-range=192.168.1.0,proxy,255.255.255.0');
    expect(l).toContain('pxe-service=tag:!ipxe,x86PC,"GGnet network boot (BIOS)",undionly.kpxe,192.168.1.20');
    expect(l).toContain(
      'pxe-service=tag:!ipxe,X86-64_EFI,"GGnet network boot (UEFI)",snponly.efi,192.168.1.20',
    );
    expect(l).toContain(`dhcp-boot=tag:ipxe,${base.scriptUrl},,192.168.1.20`);
    expect(text).not.toContain('encap:175,176');
    expect(text).not.toContain('dhcp-authoritative');
    expect(text).not.toContain('dhcp-host=');
  });

  it('tftp mode (dhcp off): TFTP only, bound to the boot address when no interface is set', () => {
    const text = renderDnsmasqConf({ ...base, mode: 'tftp', iface: null, user: 'dnsmasq' });
    const l = lines(text);
    expect(l).toContain('enable-tftp');
    expect(l).toContain('listen-address=10.99.0.1');
    expect(l).toContain('user=dnsmasq');
    expect(text).not.toContain('dhcp-range');
    expect(text).not.toContain('dhcp-boot');
    expect(text).not.toContain('enable-ra');
  });

  it('router and DNS when set; no RA without the setting', () => {
    const text = renderDnsmasqConf({
      ...base,
      router: '10.99.0.254',
      dns: ['10.99.0.53', '1.1.1.1'],
      ipv6Ra: false,
    });
    expect(lines(text)).toContain('dhcp-option=option:router,10.99.0.254');
    expect(lines(text)).toContain('dhcp-option=option:dns-server,10.99.0.53,1.1.1.1');
    expect(text).not.toContain('enable-ra');
  });

  it('refuses values that would inject directives or break the syntax', () => {
    expect(() => renderDnsmasqConf({ ...base, iface: 'br0\nenable-tftp' })).toThrow(/interface/);
    expect(() => renderDnsmasqConf({ ...base, scriptUrl: 'http://x/boot,evil' })).toThrow(/script URL/);
    expect(() => renderDnsmasqConf({ ...base, tftpRoot: '/tmp/x y' })).toThrow(/TFTP root/);
    expect(() =>
      renderDnsmasqConf({ ...base, reservations: [{ mac: 'zz', ip: '10.0.0.1', name: 'a' }] }),
    ).toThrow(/MAC/);
    expect(() =>
      renderDnsmasqConf({
        ...base,
        reservations: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.1', name: 'a,b' }],
      }),
    ).toThrow(/host name/);
    expect(() => renderDnsmasqConf({ ...base, range: null })).toThrow(/range/);
  });

  it('networkOf', () => {
    expect(networkOf('192.168.7.20', '255.255.255.0')).toBe('192.168.7.0');
    expect(networkOf('10.1.2.3', '255.255.0.0')).toBe('10.1.0.0');
  });
});

describe('addresses of registered machines (dhcp-hostsfile)', () => {
  const range = { start: '10.99.0.100', end: '10.99.0.199' };
  const macs = Array.from({ length: 60 }, (_, i) => ({
    mac: `52:54:00:e3:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
    name: `pc-${i}`,
  }));

  it('gives every machine its own address in the range, never a taken one', () => {
    const got = pickAddresses(macs, range, ['10.99.0.1', '10.99.0.150']);
    expect(got).toHaveLength(60);
    expect(new Set(got.map((g) => g.ip)).size).toBe(60);
    for (const g of got) {
      const last = Number(g.ip.split('.')[3]);
      expect(g.ip.startsWith('10.99.0.')).toBe(true);
      expect(last).toBeGreaterThanOrEqual(100);
      expect(last).toBeLessThanOrEqual(199);
    }
    expect(got.map((g) => g.ip)).not.toContain('10.99.0.150');
  });

  it('is stable: the same list gives the same addresses, and a new machine never moves an older one', () => {
    const a = pickAddresses(macs.slice(0, 40), range, []);
    expect(pickAddresses(macs.slice(0, 40), range, [])).toEqual(a);
    const b = pickAddresses(macs, range, []);
    expect(b.slice(0, 40)).toEqual(a);
  });

  it('stops when the range is full (the rest get dynamic addresses) and skips .0/.255', () => {
    expect(pickAddresses(macs, { start: '10.99.0.250', end: '10.99.1.5' }, ['10.99.1.1'])).toHaveLength(9);
    const ips = pickAddresses(macs, { start: '10.99.0.250', end: '10.99.1.5' }, []).map((g) => g.ip);
    expect(ips).not.toContain('10.99.0.255');
    expect(ips).not.toContain('10.99.1.0');
    expect(pickAddresses(macs, { start: '10.99.0.9', end: '10.99.0.1' }, [])).toEqual([]);
  });

  it('picks exactly what linear probing over the whole range picks (addresses stay where they were)', () => {
    // the algorithm before the pick was bounded: kept here as the reference
    const toInt = (ip: string) => ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
    const toIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
    const fnv = (mac: string) => {
      let h = 0x811c9dc5;
      for (const ch of mac) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
      return h;
    };
    const reference = (ms: typeof macs, r: { start: string; end: string }, taken: string[]) => {
      const start = toInt(r.start);
      const end = toInt(r.end);
      const size = end - start + 1;
      const used = new Set(taken.map(toInt));
      for (let i = start; i <= end; i++) if ((i & 255) === 0 || (i & 255) === 255) used.add(i);
      let free = 0;
      for (let i = start; i <= end; i++) if (!used.has(i)) free++;
      const out: string[] = [];
      for (const m of ms) {
        if (free === 0) break;
        let i = fnv(m.mac) % size;
        while (used.has(start + i)) i = (i + 1) % size;
        used.add(start + i);
        free--;
        out.push(toIp(start + i));
      }
      return out;
    };
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n) >>> 0;
    for (let round = 0; round < 30; round++) {
      const start = toInt('10.20.0.0') + rnd(2000);
      const r = { start: toIp(start), end: toIp(start + 1 + rnd(round % 3 === 0 ? 40 : 700)) };
      const taken = Array.from({ length: rnd(20) }, () => toIp(start + rnd(300)));
      const ms = Array.from({ length: rnd(800) }, (_, i) => ({
        mac: `52:54:00:${rnd(256).toString(16).padStart(2, '0')}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        name: `pc-${i}`,
      }));
      expect(pickAddresses(ms, r, taken).map((g) => g.ip)).toEqual(reference(ms, r, taken));
    }
  });

  it('refuses a range larger than a /16 instead of walking billions of addresses', () => {
    expect(() => pickAddresses(macs, { start: '1.0.0.1', end: '223.255.255.254' }, [])).toThrow(
      /has 3741319166 addresses; GGnet serves at most 65536/,
    );
    expect(() => pickAddresses(macs, { start: '10.0.0.0', end: '10.1.0.0' }, [])).toThrow(/65537 addresses/);
    const full = pickAddresses(macs, { start: '10.0.0.0', end: '10.0.255.255' }, []);
    expect(full).toHaveLength(60);
    expect(poolSize({ start: '10.0.0.0', end: '10.0.255.255' })).toBe(MAX_DHCP_POOL);
  });

  it('renders mac,ip,name lines and refuses what would inject a directive', () => {
    const text = renderDnsmasqHosts([
      { mac: '52-54-00-AA-BB-01', ip: '10.99.0.120', name: 'pc-1' },
      { mac: '52:54:00:aa:bb:01', ip: '10.99.0.121', name: 'dup' },
    ]);
    expect(lines(text).filter((l) => !l.startsWith('#') && l)).toEqual([
      '52:54:00:aa:bb:01,10.99.0.120,pc-1',
    ]);
    expect(() => renderDnsmasqHosts([{ mac: '52:54:00:aa:bb:01', ip: '10.0.0.1\nx', name: 'a' }])).toThrow(
      /reserved address/,
    );
    const conf = lines(renderDnsmasqConf({ ...base, hostsFile: '/var/lib/ggnet/dnsmasq/hosts' }));
    expect(conf).toContain('dhcp-hostsfile=/var/lib/ggnet/dnsmasq/hosts');
    expect(lines(renderDnsmasqConf(base)).some((l) => l.startsWith('dhcp-hostsfile'))).toBe(false);
  });
});
