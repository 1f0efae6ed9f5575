import type { Settings } from '@ggnet/contracts';

export type SnippetKind = 'isc' | 'dnsmasq';

/**
 * What an existing DHCP server (the site's router, Windows Server, ISC dhcpd, dnsmasq) needs so
 * that PXE clients chain-load iPXE from GGnet's TFTP server and iPXE then fetches its per-machine
 * script over HTTP. BIOS clients get undionly.kpxe, UEFI ones ipxe.efi.
 */
export function dhcpSnippet(
  s: Settings,
  kind: SnippetKind,
  fallbackHost: string,
  fallbackPort: number,
): string {
  const host = s.network.bootAddr ?? fallbackHost;
  const port = s.network.bootHttpPort ?? fallbackPort;
  const script = `http://${host}${port === 80 ? '' : `:${port}`}/boot/ipxe?mac=\${net0/mac}`;
  if (kind === 'dnsmasq') {
    return [
      `# dnsmasq on the site's DHCP server: send PXE clients to GGnet (${host})`,
      'dhcp-match=set:ipxe,175',
      'dhcp-match=set:efi64,option:client-arch,7',
      'dhcp-match=set:efi64,option:client-arch,9',
      `dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe,,${host}`,
      `dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,${host}`,
      `dhcp-boot=tag:ipxe,${script}`,
    ].join('\n');
  }
  return [
    `# ISC dhcpd: send PXE clients to GGnet (${host})`,
    'option client-arch code 93 = unsigned integer 16;',
    `next-server ${host};`,
    'if exists user-class and option user-class = "iPXE" {',
    `  filename "${script}";`,
    '} elsif option client-arch = 00:07 or option client-arch = 00:09 {',
    '  filename "ipxe.efi";',
    '} else {',
    '  filename "undionly.kpxe";',
    '}',
  ].join('\n');
}
