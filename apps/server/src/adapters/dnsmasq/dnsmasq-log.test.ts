import { describe, expect, it } from 'vitest';
import { DnsmasqLogParser, archFromVendorClass, type DnsmasqEvent } from './dnsmasq-log.js';

// Lines as dnsmasq 2.90 logs them with log-dhcp (taken from a real run, shortened)
const BIOS_IPXE = `dnsmasq-dhcp[14882]: 3238439186 available DHCP range: 10.98.0.100 -- 10.98.0.199
dnsmasq-dhcp[14882]: 3238439186 vendor class: PXEClient:Arch:00000:UNDI:002001
dnsmasq-dhcp[14882]: 3238439186 user class: iPXE
dnsmasq-dhcp[14882]: 3238439186 DHCPDISCOVER(eth0) 0e:2d:ec:ec:de:56 
dnsmasq-dhcp[14882]: 3238439186 tags: ipxe, eth0
dnsmasq-dhcp[14882]: 3238439186 DHCPOFFER(eth0) 10.98.0.171 0e:2d:ec:ec:de:56 
dnsmasq-dhcp[14882]: 3238439186 requested options: 1:netmask, 3:router, 6:dns-server, 12:hostname, 
dnsmasq-dhcp[14882]: 3238439186 bootfile name: http://10.98.0.1:8080/boot/ipxe?mac=\${netX/mac}
dnsmasq-dhcp[14882]: 3238439186 next server: 10.98.0.1
dnsmasq-dhcp[14882]: 3238439186 sent size:  1 option: 53 message-type  2
dnsmasq-dhcp[14882]: 3238439186 available DHCP range: 10.98.0.100 -- 10.98.0.199
dnsmasq-dhcp[14882]: 3238439186 vendor class: PXEClient:Arch:00000:UNDI:002001
dnsmasq-dhcp[14882]: 3238439186 user class: iPXE
dnsmasq-dhcp[14882]: 3238439186 DHCPREQUEST(eth0) 10.98.0.171 0e:2d:ec:ec:de:56 
dnsmasq-dhcp[14882]: 3238439186 tags: ipxe, eth0
dnsmasq-dhcp[14882]: 3238439186 DHCPACK(eth0) 10.98.0.171 0e:2d:ec:ec:de:56 pc-01
dnsmasq-dhcp[14882]: 3238439186 requested options: 66:tftp-server, 67:bootfile-name, 119:domain-search, 
dnsmasq-dhcp[14882]: 3238439186 next server: 10.98.0.1
dnsmasq-dhcp[14882]: 3238439186 sent size: 87 option: 67 bootfile-name  http://10.98.0.1:8080/boot/ipxe?mac=\${netX/mac}&arch=\${buildarch}
dnsmasq-dhcp[29886]: RTR-SOLICIT(br0) 0e:2d:ec:ec:de:56
dnsmasq-dhcp[29886]: RTR-ADVERT(br0) fd99::`;

const UEFI_PXE = `dnsmasq-dhcp[14882]: 1532826183 vendor class: PXEClient:Arch:00007:UNDI:003016
dnsmasq-dhcp[14882]: 1532826183 DHCPDISCOVER(br0) 52:54:00:99:00:10 
dnsmasq-dhcp[14882]: 1532826183 tags: efi64, br0
dnsmasq-dhcp[14882]: 1532826183 DHCPOFFER(br0) 10.99.0.150 52:54:00:99:00:10 
dnsmasq-dhcp[14882]: 1532826183 bootfile name: snponly.efi
dnsmasq-tftp[14882]: error 8 User aborted the transfer received from 10.99.0.150
dnsmasq-tftp[14882]: sent /var/lib/ggnet/tftp/snponly.efi to 10.99.0.150`;

function parse(text: string): DnsmasqEvent[] {
  const p = new DnsmasqLogParser();
  const at = new Date('2026-01-01T00:00:00Z');
  const out = text.split('\n').flatMap((l) => p.feed(l, at));
  return [...out, ...p.flush()];
}

describe('DnsmasqLogParser', () => {
  it('turns an iPXE DHCP exchange into discover/offer/request/ack with classes, tags and boot file', () => {
    const ev = parse(BIOS_IPXE);
    expect(ev.map((e) => e.kind)).toEqual(['dhcp_discover', 'dhcp_offer', 'dhcp_request', 'dhcp_ack']);
    expect(ev.every((e) => e.mac === '0e:2d:ec:ec:de:56')).toBe(true);
    expect(ev.every((e) => e.firmware)).toBe(true);
    expect(ev[0]!.detail).toMatchObject({
      iface: 'eth0',
      xid: '3238439186',
      ipxe: true,
      userClass: 'iPXE',
      arch: 'bios',
    });
    expect(ev[0]!.detail.tags).toEqual(['ipxe', 'eth0']);
    expect(ev[1]!.ip).toBe('10.98.0.171');
    expect(ev[1]!.detail.bootfile).toBe('http://10.98.0.1:8080/boot/ipxe?mac=${netX/mac}');
    expect(ev[1]!.detail.nextServer).toBe('10.98.0.1');
    expect(ev[3]!.detail.hostname).toBe('pc-01');
    // iPXE asks for option 67: dnsmasq then logs the boot file as a sent option
    expect(ev[3]!.detail.bootfile).toBe('http://10.98.0.1:8080/boot/ipxe?mac=${netX/mac}&arch=${buildarch}');
  });

  it('attributes TFTP transfers to the MAC that got that address; EDK2 size probes are marked not ok', () => {
    const ev = parse(UEFI_PXE);
    expect(ev.map((e) => e.kind)).toEqual(['dhcp_discover', 'dhcp_offer', 'tftp', 'tftp']);
    expect(ev[0]!.detail.arch).toBe('efi64');
    expect(ev[0]!.detail.ipxe).toBeUndefined();
    const [probe, sent] = ev.slice(2);
    expect(probe).toMatchObject({ mac: '52:54:00:99:00:10', ip: '10.99.0.150', firmware: true });
    expect(probe!.detail).toMatchObject({ ok: false });
    expect(sent!.detail).toEqual({ ok: true, file: 'snponly.efi' });
    expect(sent!.mac).toBe('52:54:00:99:00:10');
  });

  it('an OS DHCP client (no PXE vendor class) is not firmware', () => {
    const ev = parse(`dnsmasq-dhcp[1]: 77 vendor class: MSFT 5.0
dnsmasq-dhcp[1]: 77 DHCPREQUEST(br0) 10.99.0.150 52:54:00:99:00:10 
dnsmasq-dhcp[1]: 77 DHCPACK(br0) 10.99.0.150 52:54:00:99:00:10 DESKTOP-1`);
    expect(ev.map((e) => [e.kind, e.firmware])).toEqual([
      ['dhcp_request', false],
      ['dhcp_ack', false],
    ]);
  });

  it('proxyDHCP answers and lines without transaction ids', () => {
    const ev = parse(`dnsmasq-dhcp[1]: 5 vendor class: PXEClient:Arch:00000:UNDI:002001
dnsmasq-dhcp[1]: 5 PXE(br0) 52:54:00:99:00:10 proxy
dnsmasq-dhcp[1]: 6 PXE(br0) 10.99.0.120 52:54:00:99:00:10 undionly.kpxe
dnsmasq-dhcp[1]: DHCPNAK(br0) 10.99.0.7 52:54:00:99:00:11 wrong network
dnsmasq-tftp[1]: file /srv/tftp/nope.efi not found for 10.99.0.120`);
    expect(ev.map((e) => e.kind)).toEqual(['dhcp_offer', 'dhcp_ack', 'error', 'tftp']);
    expect(ev[0]!.detail).toMatchObject({ proxy: true, arch: 'bios' });
    expect(ev[1]!.detail).toMatchObject({ proxy: true, bootfile: 'undionly.kpxe' });
    expect(ev[2]!.detail).toMatchObject({ dhcp: 'DHCPNAK', message: 'wrong network' });
    expect(ev[3]).toMatchObject({ mac: '52:54:00:99:00:10', detail: { ok: false, file: 'nope.efi' } });
  });

  it('proxyDHCP: TFTP of a client whose address came from another server is resolved through the neighbour table', () => {
    const p = new DnsmasqLogParser((ip) => (ip === '10.99.0.165' ? '52:54:00:e2:01:02' : null));
    const at = new Date();
    const ev = [
      ...p.feed('dnsmasq-dhcp[1]: 419 PXE(br0) 52:54:00:e2:01:02 proxy', at),
      ...p.feed('dnsmasq-tftp[1]: sent /d/tftp/snponly.efi to 10.99.0.165', at),
      ...p.feed('dnsmasq-tftp[1]: sent /d/tftp/snponly.efi to 10.99.0.166', at),
    ];
    expect(ev.map((e) => [e.kind, e.mac])).toEqual([
      ['dhcp_offer', '52:54:00:e2:01:02'],
      ['tftp', '52:54:00:e2:01:02'],
      ['tftp', null],
    ]);
  });

  it('ignores unrelated lines', () => {
    expect(parse('dnsmasq[1]: started, version 2.90 DNS disabled\nrandom text\n')).toEqual([]);
  });

  it('archFromVendorClass', () => {
    expect(archFromVendorClass('PXEClient:Arch:00000:UNDI:002001')).toBe('bios');
    expect(archFromVendorClass('PXEClient:Arch:00009:UNDI:003016')).toBe('efi64');
    expect(archFromVendorClass('MSFT 5.0')).toBeNull();
  });
});
