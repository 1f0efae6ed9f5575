import { HOSTNAME_RE, IPV4_RE, normalizeMac } from '@ggnet/contracts';

/**
 * What GGnet wants dnsmasq to do. Built by the DHCP service from the settings; rendered to a
 * dnsmasq configuration file by renderDnsmasqConf(). Every value is validated again here, because
 * this text becomes a daemon's configuration (a newline in a value would inject a directive).
 */
export interface DnsmasqConfig {
  /**
   * dhcp: full DHCP server on the boot network; proxy: proxyDHCP beside the site's DHCP server
   * (boot information only); tftp: no DHCP at all, only TFTP for an external DHCP server's clients.
   */
  mode: 'dhcp' | 'proxy' | 'tftp';
  /** Interface to serve on; null = the interface that has bootAddr. */
  iface: string | null;
  /** Address of GGnet on the boot network: next-server (TFTP), HTTP, iSCSI. */
  bootAddr: string;
  /** URL iPXE clients get as their boot file (may contain iPXE ${...} settings). */
  scriptUrl: string;
  tftpRoot: string;
  biosFile: string;
  efiFile: string;
  /** dhcp mode. */
  range: { start: string; end: string; netmask: string; leaseTimeSec: number } | null;
  /** proxy mode: netmask of the segment (the proxy range is bootAddr's network). */
  netmask: string;
  router: string | null;
  dns: string[];
  /** Fixed addresses (dhcp mode): machines with an IP get a reservation. */
  reservations: Array<{ mac: string; ip: string; name: string }>;
  /**
   * dhcp mode: a file of `dhcp-host` lines (renderDnsmasqHosts) that dnsmasq re-reads on SIGHUP, with
   * the addresses GGnet picked for registered machines (pickAddresses). Without it, two PCs that send
   * DHCPDISCOVER at the same moment can be offered the same address (no-ping keeps no record of
   * offers); the second is NAKed and iPXE, which ignores NAKs, gives up ("Nothing to boot").
   */
  hostsFile?: string | null;
  autoReservations?: Array<{ mac: string; ip: string; name: string }>;
  /** Router advertisements (ra-only, router lifetime 0) so that iPXE's IPv6 autoconf ends at once. */
  ipv6Ra: boolean;
  leaseFile: string;
  /** dnsmasq's own pid file (the health check reads it). */
  pidFile: string;
  /** Drop privileges to this user; null = dnsmasq's default (nobody / dnsmasq). */
  user: string | null;
}

const IFACE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,14}$/;
const FILE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PATH_RE = /^\/[A-Za-z0-9._/+-]{0,4000}$/;
/** An http URL with iPXE settings; no whitespace, comma, quote or backslash (dnsmasq separators). */
const URL_RE = /^http:\/\/[A-Za-z0-9.[\]:-]+(:\d{1,5})?\/[A-Za-z0-9._~/?=&%${}:-]*$/;
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

export class DnsmasqConfigError extends Error {}

function check(value: string, re: RegExp, what: string): string {
  if (!re.test(value)) throw new DnsmasqConfigError(`invalid ${what} for dnsmasq: ${JSON.stringify(value)}`);
  return value;
}

const ipToInt = (ip: string) => ip.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** Network address of ip/netmask, e.g. 10.0.0.0 for 10.0.0.5/255.255.255.0. */
export function networkOf(ip: string, netmask: string): string {
  return intToIp((ipToInt(ip) & ipToInt(netmask)) >>> 0);
}

/**
 * The dnsmasq configuration file. Tuning carried over from the netboot lab (each item saves seconds
 * per boot): no-ping, an IPv6 RA on the boot segment, iPXE's no-pxedhcp (not in proxy mode), a
 * non-zero next-server in proxy replies, and iPXE clients go straight to HTTP (no second TFTP).
 */
export function renderDnsmasqConf(c: DnsmasqConfig): string {
  const boot = check(c.bootAddr, IPV4_RE, 'boot address');
  const url = check(c.scriptUrl, URL_RE, 'script URL');
  const bios = check(c.biosFile, FILE_RE, 'BIOS boot file');
  const efi = check(c.efiFile, FILE_RE, 'UEFI boot file');
  const iface = c.iface === null ? null : check(c.iface, IFACE_RE, 'interface');
  const L: string[] = [
    '# Written by GGnet from its settings; changes here are overwritten.',
    '# DNS off: GGnet only does DHCP/proxyDHCP and TFTP.',
    'port=0',
    'no-resolv',
    'no-hosts',
    `pid-file=${check(c.pidFile, PATH_RE, 'pid file')}`,
  ];
  if (c.user !== null) L.push(`user=${check(c.user, USER_RE, 'user')}`);
  // never every interface: the boot network's interface, or the one that has the boot address
  L.push(iface ? `interface=${iface}` : `listen-address=${boot}`, 'bind-interfaces');
  L.push(
    '',
    '# TFTP: iPXE for clients whose firmware only speaks PXE',
    'enable-tftp',
    `tftp-root=${check(c.tftpRoot, PATH_RE, 'TFTP root')}`,
  );
  if (c.mode === 'tftp') return `${L.join('\n')}\n`;

  L.push(
    '',
    '# log every DHCP exchange with its classes and tags: GGnet reads it for the boot timeline',
    'log-dhcp',
    `dhcp-leasefile=${check(c.leaseFile, PATH_RE, 'lease file')}`,
    '# do not ping-probe an address before offering it (saves ~3 s per boot)',
    'no-ping',
    '# iPXE says who it is with user-class "iPXE" (option 77) and option 175',
    'dhcp-userclass=set:ipxe,iPXE',
    'dhcp-match=set:ipxe,175',
    '# client architecture (option 93): 7 and 9 are x86-64 UEFI, 0 is BIOS',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
  );

  if (c.mode === 'dhcp') {
    if (!c.range) throw new DnsmasqConfigError('dhcp mode needs an address range');
    const r = c.range;
    if (!Number.isInteger(r.leaseTimeSec) || r.leaseTimeSec < 120)
      throw new DnsmasqConfigError(`invalid lease time ${r.leaseTimeSec}`);
    L.push(
      '',
      '# full DHCP server on the boot network',
      'dhcp-authoritative',
      `dhcp-range=${check(r.start, IPV4_RE, 'range start')},${check(r.end, IPV4_RE, 'range end')},${check(r.netmask, IPV4_RE, 'netmask')},${r.leaseTimeSec}s`,
      c.router
        ? `dhcp-option=option:router,${check(c.router, IPV4_RE, 'router')}`
        : 'dhcp-option=option:router',
      c.dns.length
        ? `dhcp-option=option:dns-server,${c.dns.map((d) => check(d, IPV4_RE, 'DNS server')).join(',')}`
        : 'dhcp-option=option:dns-server',
      '# iPXE: do not wait for ProxyDHCP offers (option 175.176 no-pxedhcp; saves ~2 s)',
      'dhcp-option=tag:ipxe,encap:175,176,1b',
      `dhcp-boot=tag:!ipxe,tag:!efi64,${bios},,${boot}`,
      `dhcp-boot=tag:!ipxe,tag:efi64,${efi},,${boot}`,
      `dhcp-boot=tag:ipxe,${url},,${boot}`,
    );
    if (c.hostsFile)
      L.push(
        '# addresses of registered machines (one each, so that a boot storm never gets two the same offer)',
        `dhcp-hostsfile=${check(c.hostsFile, PATH_RE, 'hosts file')}`,
      );
    const seen = new Set<string>();
    for (const h of c.reservations) {
      const mac = normalizeMac(h.mac);
      if (!mac) throw new DnsmasqConfigError(`invalid MAC ${JSON.stringify(h.mac)}`);
      if (seen.has(mac)) continue;
      seen.add(mac);
      L.push(
        `dhcp-host=${mac},${check(h.ip, IPV4_RE, 'reserved address')},${check(h.name, HOSTNAME_RE, 'host name')}`,
      );
    }
  } else {
    const mask = check(c.netmask, IPV4_RE, 'netmask');
    L.push(
      '',
      "# proxyDHCP: the site's DHCP server gives addresses, GGnet only the boot information",
      `dhcp-range=${networkOf(boot, mask)},proxy,${mask}`,
      `pxe-service=tag:!ipxe,x86PC,"GGnet network boot (BIOS)",${bios},${boot}`,
      `pxe-service=tag:!ipxe,X86-64_EFI,"GGnet network boot (UEFI)",${efi},${boot}`,
      `pxe-service=tag:!ipxe,BC_EFI,"GGnet network boot (UEFI)",${efi},${boot}`,
      '# the proxy reply must carry a non-zero next-server, or iPXE ignores it ("Nothing to boot")',
      `dhcp-boot=tag:ipxe,${url},,${boot}`,
    );
  }

  if (c.ipv6Ra && iface) {
    L.push(
      '',
      '# IPv6 router advertisements (no default route: lifetime 0), so that iPXE does not wait ~13 s for IPv6',
      'enable-ra',
      `dhcp-range=::,constructor:${iface},ra-only`,
      `ra-param=${iface},10,0`,
    );
  }
  return `${L.join('\n')}\n`;
}

/** The dhcp-hostsfile text: `mac,ip,name` per line (validated like the main file's values). */
export function renderDnsmasqHosts(list: Array<{ mac: string; ip: string; name: string }>): string {
  const seen = new Set<string>();
  const L = ['# Written by GGnet: addresses of registered machines (dnsmasq re-reads this on SIGHUP).'];
  for (const h of list) {
    const mac = normalizeMac(h.mac);
    if (!mac) throw new DnsmasqConfigError(`invalid MAC ${JSON.stringify(h.mac)}`);
    if (seen.has(mac)) continue;
    seen.add(mac);
    L.push(`${mac},${check(h.ip, IPV4_RE, 'reserved address')},${check(h.name, HOSTNAME_RE, 'host name')}`);
  }
  return `${L.join('\n')}\n`;
}

/** FNV-1a of a MAC: where in the range a machine's address search starts. */
function macHash(mac: string): number {
  let h = 0x811c9dc5;
  for (const ch of mac) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/**
 * The largest DHCP range GGnet computes addresses for: a /16 (the settings refuse a shorter netmask,
 * so a range in one subnet never has more). Checked here too, for values that never passed the
 * settings' checks (pinned by the environment, stored by an older version).
 */
export const MAX_DHCP_POOL = 65_536;

/** Number of addresses in a range, or an error that says why GGnet will not hand them out. */
export function poolSize(range: { start: string; end: string }): number {
  const start = ipToInt(check(range.start, IPV4_RE, 'range start'));
  const end = ipToInt(check(range.end, IPV4_RE, 'range end'));
  if (end < start) return 0;
  const size = end - start + 1;
  if (size > MAX_DHCP_POOL) {
    throw new DnsmasqConfigError(
      `DHCP range ${range.start}-${range.end} has ${size} addresses; GGnet serves at most ${MAX_DHCP_POOL} (netmask 255.255.0.0 or longer)`,
    );
  }
  return size;
}

/**
 * One address of the DHCP range for each machine, stable over time: machines are taken in the
 * order they were registered, each starts at a hash of its MAC and takes the next free address. A
 * new machine never moves an older one; `taken` (fixed IPs, the server, the router) is skipped.
 * Machines beyond the size of the range get none (dnsmasq then picks a dynamic address).
 *
 * Bounded work whatever the input: the range is at most MAX_DHCP_POOL addresses (else it throws),
 * and the next free address is found through "next free" links with path compression, so the
 * whole pick costs about (range / 128 + taken + machines) steps, never range x machines, even
 * when MACs are chosen so that they all hash to the same start.
 */
export function pickAddresses<T extends { mac: string }>(
  machines: T[],
  range: { start: string; end: string },
  taken: Iterable<string>,
): Array<T & { ip: string }> {
  const size = poolSize(range);
  if (size === 0) return [];
  const start = ipToInt(range.start);
  const end = start + size - 1;
  // an occupied offset points at the next offset to try; a free one is -1 (at most 256 KiB)
  const next = new Int32Array(size).fill(-1);
  let occupied = 0;
  const occupy = (o: number) => {
    if (next[o] === -1) occupied++;
    next[o] = (o + 1) % size;
  };
  const find = (o: number): number => {
    let root = o;
    while (next[root] !== -1) root = next[root]!;
    for (let c = o; c !== root;) {
      const n = next[c]!;
      next[c] = root;
      c = n;
    }
    return root;
  };
  for (const ip of taken) {
    if (!IPV4_RE.test(ip)) continue;
    const i = ipToInt(ip);
    if (i >= start && i <= end) occupy(i - start);
  }
  // .0 and .255 confuse Windows even inside larger networks (dnsmasq does not hand them out either)
  for (let block = (start & ~255) >>> 0; block <= end; block += 256) {
    for (const i of [block, block + 255]) if (i >= start && i <= end) occupy(i - start);
  }
  let free = size - occupied;
  const out: Array<T & { ip: string }> = [];
  for (const m of machines) {
    if (free <= 0) break;
    const mac = normalizeMac(m.mac);
    if (!mac) continue;
    const o = find(macHash(mac) % size);
    occupy(o);
    free--;
    out.push({ ...m, ip: intToIp(start + o) });
  }
  return out;
}
