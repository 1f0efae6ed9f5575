import type { BootEvent } from '@ggnet/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootDisk } from './lib/bootdisk.js';
import { bootTestsUnavailable } from './lib/netns.js';
import { waitFor } from '@ggnet/testkit';
import { World } from './lib/world.js';

const skip = bootTestsUnavailable();
const kinds = (ev: BootEvent[]) => ev.map((e) => e.kind);

// The usual LAN café: the site's router does DHCP (here a plain dnsmasq in a second namespace on
// the same segment, no boot options at all); GGnet answers only the boot part as proxyDHCP.
(skip ? describe.skip : describe)(
  `proxyDHCP beside the site's DHCP server${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let w: World;

    beforeAll(async () => {
      await buildBootDisk();
      w = new World({
        name: 'proxy-dhcp',
        dhcpPeer: true,
        env: { GGNET_DHCP_MODE: 'proxy', GGNET_AUTO_REGISTER: 'pending' },
      });
      await w.start();
      await w.startSiteDhcp();
      await w.api.put('/api/v1/settings', { boot: { pendingRetrySec: 2 } });
    });
    afterAll(async () => w?.close());

    it('GGnet runs dnsmasq as proxyDHCP', async () => {
      // the settings change in beforeAll restarts dnsmasq: wait until it runs again
      const st = await waitFor(
        'dnsmasq running',
        async () => {
          const s = await w.api.get<Record<string, unknown>>('/api/v1/dhcp/status');
          return s.daemon === 'running' ? s : null;
        },
        30_000,
      );
      expect(st).toMatchObject({ mode: 'proxy', daemon: 'running', tftp: true, problem: null });
    });

    it('BIOS: the address comes from the site server, the boot script URL from GGnet', async () => {
      const mac = '52:54:00:e2:01:01';
      const vm = w.vm('proxy-bios', 'bios', mac);
      vm.start();
      await vm.waitFor(/waiting for approval/, 120_000);
      const m = await w.machineByMac(mac);
      expect(m).toMatchObject({ pending: true });
      expect(m!.lastIp).toMatch(/^10\.99\.0\.1\d\d$/);
      const ev = await w.waitEvents(mac, 'proxy events', (e) => kinds(e).includes('script'));
      const proxied = ev.filter((e) => e.detail.proxy === true);
      expect(proxied.length).toBeGreaterThan(0);
      // GGnet never handed out an address: no DHCPOFFER/ACK of its own with an IP
      expect(ev.some((e) => e.kind === 'dhcp_ack' && !e.detail.proxy)).toBe(false);
      expect(ev.find((e) => e.kind === 'script')!.detail).toMatchObject({
        result: 'pending',
        platform: 'pcbios',
      });
      w.record('proxy-bios', vm.stages);
      await vm.stop();
    });

    it('UEFI: OVMF PXE gets snponly.efi from the proxy, iPXE then its script', async () => {
      const mac = '52:54:00:e2:01:02';
      const vm = w.vm('proxy-uefi', 'uefi', mac);
      vm.start();
      await vm.waitFor(/waiting for approval/, 180_000);
      const ev = await w.waitEvents(mac, 'proxy UEFI events', (e) => kinds(e).includes('script'));
      expect(
        ev.some((e) => e.kind === 'tftp' && e.detail.ok === true && e.detail.file === 'snponly.efi'),
      ).toBe(true);
      expect(ev.find((e) => e.kind === 'script')!.detail).toMatchObject({
        result: 'pending',
        platform: 'efi',
      });
      w.record('proxy-uefi', vm.stages);
      await vm.stop();
    });
  },
);
