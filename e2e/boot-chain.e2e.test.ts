import type { BootEvent, Machine } from '@ggnet/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootDisk } from './lib/bootdisk.js';
import { bootTestsUnavailable } from './lib/netns.js';
import { waitFor } from '@ggnet/testkit';
import { World } from './lib/world.js';

const skip = bootTestsUnavailable();
const kinds = (ev: BootEvent[]) => ev.map((e) => e.kind);

// The network part of the chain, in GGnet's own DHCP mode: DHCP (dnsmasq, supervised by GGnet),
// TFTP of iPXE for UEFI firmware, the iPXE script from GGnet's boot endpoint, auto-registration.
(skip ? describe.skip : describe)(
  `boot chain: DHCP, TFTP, iPXE script${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let w: World;

    beforeAll(async () => {
      await buildBootDisk();
      w = new World({
        name: 'boot-chain',
        env: {
          GGNET_DHCP_MODE: 'dhcp',
          GGNET_DHCP_RANGE: '10.99.0.100,10.99.0.199',
          GGNET_AUTO_REGISTER: 'pending',
        },
      });
      await w.start();
      await w.api.put('/api/v1/settings', { boot: { pendingRetrySec: 2 } });
    });
    afterAll(async () => w?.close());

    it('GGnet runs dnsmasq in DHCP mode on the boot interface', async () => {
      // the settings change in beforeAll restarts dnsmasq: wait until it runs again
      const st = await waitFor(
        'dnsmasq running',
        async () => {
          const s = await w.api.get<Record<string, unknown>>('/api/v1/dhcp/status');
          return s.daemon === 'running' ? s : null;
        },
        30_000,
      );
      expect(st).toMatchObject({
        mode: 'dhcp',
        daemon: 'running',
        tftp: true,
        iface: 'br0',
        bootAddr: '10.99.0.1',
        problem: null,
      });
      expect(w.net.pids()).toContain(st.pid);
    });

    it('BIOS: an unknown PC gets the script URL from DHCP, waits for approval, and goes on once approved', async () => {
      const mac = '52:54:00:e2:00:01';
      const vm = w.vm('bios-pending', 'bios', mac);
      vm.start();
      await vm.waitFor(/waiting for approval/, 120_000);
      const m = await w.machineByMac(mac);
      expect(m).toMatchObject({ name: 'pc-1', pending: true, status: 'pending' });
      expect(m!.lastIp).toMatch(/^10\.99\.0\.1\d\d$/);
      const ev = await w.waitEvents(mac, 'DHCP and script events', (e) => kinds(e).includes('script'));
      // QEMU's NIC ROM is iPXE: it asks with user class iPXE and goes straight to HTTP (no TFTP)
      expect(kinds(ev).slice(0, 4)).toEqual(['dhcp_discover', 'dhcp_offer', 'dhcp_request', 'dhcp_ack']);
      expect(ev[0]!.detail).toMatchObject({ ipxe: true, arch: 'bios', iface: 'br0' });
      expect(kinds(ev)).not.toContain('tftp');
      expect(ev.find((e) => e.kind === 'dhcp_ack')!.detail.bootfile).toMatch(
        /^http:\/\/10\.99\.0\.1:8080\/boot\/ipxe\?mac=/,
      );
      expect(ev.find((e) => e.kind === 'script')!.detail).toMatchObject({
        result: 'pending',
        arch: 'i386',
        platform: 'pcbios',
      });

      // approval in the API: the PC asks again by itself; with no image it leaves network boot
      await w.api.patch<Machine>(`/api/v1/machines/${m!.id}`, { pending: false });
      await vm.waitFor(/pc-1 has no image to boot/, 60_000);
      await vm.waitFor(/No bootable device/, 60_000);
      w.record('bios-pending', vm.stages);
      await vm.stop();
    });

    it('UEFI: OVMF PXE gets snponly.efi over TFTP, iPXE then fetches its script', async () => {
      const mac = '52:54:00:e2:00:02';
      await w.api.post('/api/v1/machines', { name: 'uefi-1', mac });
      const vm = w.vm('uefi-noimage', 'uefi', mac);
      vm.start();
      await vm.waitFor(/uefi-1 has no image to boot/, 180_000);
      const ev = await w.waitEvents(mac, 'UEFI chain events', (e) => kinds(e).includes('script'));
      const firstDhcp = ev.find((e) => e.kind === 'dhcp_discover')!;
      expect(firstDhcp.detail).toMatchObject({ arch: 'efi64' });
      expect(firstDhcp.detail.ipxe).toBeUndefined();
      const sent = ev.filter((e) => e.kind === 'tftp' && e.detail.ok === true);
      expect(sent.length).toBeGreaterThan(0);
      expect(new Set(sent.map((e) => e.detail.file))).toEqual(new Set(['snponly.efi']));
      // after TFTP, iPXE (on OVMF's SNP) does DHCP again as iPXE and gets the script URL
      const after = ev.slice(ev.indexOf(sent[0]!));
      expect(after.some((e) => e.kind === 'dhcp_ack' && e.detail.ipxe === true)).toBe(true);
      expect(ev.find((e) => e.kind === 'script')!.detail).toMatchObject({
        result: 'no_image',
        arch: 'x86_64',
        platform: 'efi',
      });
      w.record('uefi-noimage', vm.stages);
      await vm.stop();
    });
  },
);
