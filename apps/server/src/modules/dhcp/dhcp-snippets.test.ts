import { describe, expect, it } from 'vitest';
import { DHCP_SNIPPET_FORMATS } from '@ggnet/contracts';
import { renderSnippet } from './dhcp-snippets.js';

const input = {
  bootAddr: '192.168.1.20',
  scriptUrl: 'http://192.168.1.20:8080/boot/ipxe',
  biosFile: 'undionly.kpxe',
  efiFile: 'snponly.efi',
};

describe('DHCP snippets for external servers', () => {
  it.each(DHCP_SNIPPET_FORMATS)('%s names next-server, both boot files and the iPXE script URL', (f) => {
    const text = renderSnippet(f, input);
    for (const v of Object.values(input)) expect(text).toContain(v);
    expect(text).toMatch(/iPXE/);
  });

  it('ISC dhcpd matches the iPXE user class before the UEFI architecture', () => {
    const text = renderSnippet('isc', input);
    expect(text).toContain('option client-arch code 93 = unsigned integer 16;');
    expect(text.indexOf('option user-class = "iPXE"')).toBeLessThan(text.indexOf('client-arch = 00:07'));
  });

  it('Kea classes exclude iPXE clients from the TFTP classes', () => {
    const text = renderSnippet('kea', input);
    expect(text.match(/not member\('ggnet-ipxe'\)/g)).toHaveLength(2);
  });
});
