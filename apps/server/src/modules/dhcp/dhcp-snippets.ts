import type { DhcpSnippetFormat } from '@ggnet/contracts';

export interface SnippetInput {
  bootAddr: string;
  /** Bare script URL (http://addr:port/boot/ipxe): GGnet answers it with a script that adds MAC/arch. */
  scriptUrl: string;
  biosFile: string;
  efiFile: string;
}

/**
 * Configuration for a site's own DHCP server when GGnet's DHCP is off. Every variant does the same
 * three things: next-server = GGnet; plain PXE firmware gets iPXE over TFTP (BIOS: undionly.kpxe,
 * x86-64 UEFI by option 93: snponly.efi); a client that already runs iPXE (user class "iPXE") gets
 * the HTTP URL of its boot script instead, so that iPXE does not load itself again in a loop.
 */
export function renderSnippet(format: DhcpSnippetFormat, i: SnippetInput): string {
  switch (format) {
    case 'isc':
      return `# ISC dhcpd (dhcpd.conf): GGnet network boot
# once, at the top level:
option client-arch code 93 = unsigned integer 16;

# inside the subnet (or a group/class) of the PCs that boot from GGnet:
next-server ${i.bootAddr};
if exists user-class and option user-class = "iPXE" {
  # already running iPXE: fetch the boot script over HTTP (no second TFTP)
  filename "${i.scriptUrl}";
} elsif option client-arch = 00:07 or option client-arch = 00:09 {
  # x86-64 UEFI firmware
  filename "${i.efiFile}";
} else {
  # BIOS PXE ROM
  filename "${i.biosFile}";
}
`;
    case 'kea':
      return `// Kea DHCPv4 (kea-dhcp4.conf): GGnet network boot. Add these classes to "Dhcp4",
// and "next-server": "${i.bootAddr}" to the subnet of the PCs that boot from GGnet.
"client-classes": [
  {
    "name": "ggnet-ipxe",
    "test": "substring(option[77].hex, 0, 4) == 'iPXE'",
    "next-server": "${i.bootAddr}",
    "boot-file-name": "${i.scriptUrl}"
  },
  {
    "name": "ggnet-uefi",
    "test": "not member('ggnet-ipxe') and (option[93].hex == 0x0007 or option[93].hex == 0x0009)",
    "next-server": "${i.bootAddr}",
    "boot-file-name": "${i.efiFile}"
  },
  {
    "name": "ggnet-bios",
    "test": "not member('ggnet-ipxe') and option[93].hex == 0x0000",
    "next-server": "${i.bootAddr}",
    "boot-file-name": "${i.biosFile}"
  }
]
`;
    case 'dnsmasq':
      return `# dnsmasq (e.g. /etc/dnsmasq.d/ggnet.conf) on the site's DHCP server: GGnet network boot
dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:ipxe,175
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:efi64,option:client-arch,9
dhcp-boot=tag:!ipxe,tag:!efi64,${i.biosFile},,${i.bootAddr}
dhcp-boot=tag:!ipxe,tag:efi64,${i.efiFile},,${i.bootAddr}
dhcp-boot=tag:ipxe,${i.scriptUrl},,${i.bootAddr}
# iPXE: do not wait for ProxyDHCP offers (saves ~2 s per boot)
dhcp-option=tag:ipxe,encap:175,176,1b
# answer at once instead of ping-probing each address first (saves ~3 s per boot)
no-ping
`;
    case 'router':
      return `Generic router / DHCP server (web interface): GGnet network boot

  Next server / TFTP server / option 66:   ${i.bootAddr}
  Boot file name / option 67:
      BIOS PCs:                             ${i.biosFile}
      UEFI PCs (client architecture 7/9):   ${i.efiFile}
      PCs already running iPXE:             ${i.scriptUrl}

iPXE identifies itself with DHCP user class "iPXE" (option 77). The router must hand those
clients the HTTP URL above; if it gave them ${i.biosFile} again, iPXE would load itself in a loop.
Many routers can only set one boot file for everybody. Then leave the router as it is and let
GGnet answer the boot part: set dhcp.mode = proxy (GGNET_DHCP_MODE=proxy). GGnet then runs
proxyDHCP on ${i.bootAddr}'s network; it hands out no addresses, only the boot information,
for BIOS and UEFI alike.
`;
  }
}
