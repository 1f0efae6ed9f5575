import type { Image, ImageVersion, Machine, Media } from '@ggnet/contracts';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@ggnet/testkit';
import { buildBootDisk, MARK, type BootDisk } from './lib/bootdisk.js';
import { buildInstallerIso, INSTALL_MARK, type InstallerIso } from './lib/installer-iso.js';
import { bootTestsUnavailable } from './lib/netns.js';
import type { Firmware } from './lib/qemu.js';
import { bootVm } from './lib/sanboot.js';
import { World } from './lib/world.js';

const skip = bootTestsUnavailable();

// Issue 15: an image made on the server. A blank image, an installer ISO uploaded as install media,
// a diskless VM in install mode (its maintenance disk hooked as 0x80, the ISO sanbooted from
// GGnet's HTTP by ranges) whose installer writes a bootable system onto the network disk; the
// writeback applied and published; then a normal boot of another VM from that image reaches its
// marker. BIOS and UEFI.
(skip ? describe.skip : describe)(
  `install mode: blank image + ISO -> installed image${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let w: World;
    let disk: BootDisk;
    let installer: InstallerIso;
    let media: Media;

    beforeAll(async () => {
      w = new World({
        name: 'install-mode',
        xfs: true,
        env: {
          GGNET_DHCP_MODE: 'dhcp',
          GGNET_DHCP_RANGE: '10.99.0.100,10.99.0.199',
          GGNET_AUTO_REGISTER: 'off',
          GGNET_STORAGE_RESERVE: String(256 * 1024 * 1024),
        },
      });
      disk = await buildBootDisk((l) => w.log(l));
      installer = await buildInstallerIso(disk, (l) => w.log(l));
      await w.start();
      // the ISO through the same upload path as images (create + PUT content): it becomes a medium
      const rec = await w.api.post<Image>('/api/v1/images', { name: 'e2e-installer', osType: 'linux' });
      const res = await fetch(`${w.api.baseUrl}/api/v1/images/${rec.id}/content?filename=installer.iso`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${w.api.token}`, 'content-type': 'application/octet-stream' },
        body: readFileSync(installer.iso),
      });
      expect(res.status).toBe(200);
      media = (await res.json()) as Media;
      w.record('installer ISO bytes', statSync(installer.iso).size);
    });
    afterAll(async () => w?.close());

    const installAndBoot = async (firmware: Firmware, other: Firmware, n: number) => {
      const blank = await w.api.post<Image>('/api/v1/images', {
        name: `blank-${firmware}`,
        osType: 'linux',
        sizeBytes: 128 * 1024 * 1024,
      });
      const v1 = blank.publishedVersionId!;
      const v1File = join(w.dataDir, 'images', blank.id, 'versions', `${v1}.raw`);
      expect(statSync(v1File).blocks).toBe(0);
      const m = await w.api.post<Machine>('/api/v1/machines', {
        name: `inst-${firmware}`,
        mac: `52:54:00:e5:0${n}:01`,
        bootImageId: blank.id,
        bootMode: 'maintenance',
        installMediaId: media.id,
      });

      const t0 = Date.now();
      const vm = w.vm(`inst-${firmware}`, firmware, m.mac);
      vm.start();
      await vm.waitFor(
        new RegExp(`${INSTALL_MARK.done}|${INSTALL_MARK.failed}`),
        300_000,
        /the network disk could not be booted|Kernel panic|No bootable device/,
      );
      await vm.waitExit(30_000);
      const serial = vm.serial();
      w.record(`install ${firmware} ms`, Date.now() - t0);
      expect(serial).toContain('INSTALLS onto');
      expect(serial).toContain(`ggnetinstall=${firmware === 'bios' ? 'bios-isolinux' : 'uefi-systemd-boot'}`);
      expect(serial).toContain(INSTALL_MARK.disk);
      expect(serial).toContain(INSTALL_MARK.done);
      expect(serial).not.toContain(INSTALL_MARK.failed);

      // the installer wrote onto the maintenance writeback: apply it as v2 and publish
      const session = (await w.machineByMac(m.mac))!.sessionId!;
      await waitFor(
        'the powered-off installer to be seen as logged out',
        async () => ((await w.session(session)).connections.length === 0 ? true : null),
        60_000,
        500,
      );
      // ISO ranges were served to this machine (its timeline/session is the install one)
      const v2 = await w.api.post<ImageVersion>(`/api/v1/sessions/${session}/apply`, {
        comment: `installed from ${media.name}`,
      });
      await w.api.post(`/api/v1/images/${blank.id}/versions/${v2.id}/publish`);
      // the blank master is still blank
      expect(statSync(v1File).blocks).toBe(0);
      await w.api.patch<Machine>(`/api/v1/machines/${m.id}`, { bootMode: 'normal' });

      // another VM (the other firmware) boots the installed image normally and reaches its marker
      const client = await w.api.post<Machine>('/api/v1/machines', {
        name: `after-${firmware}`,
        mac: `52:54:00:e5:0${n}:02`,
        bootImageId: blank.id,
      });
      const b = await bootVm(w, { name: `after-${firmware}`, firmware: other, mac: client.mac });
      expect(b.serial).toContain(MARK.iscsiRoot);
      expect(b.serial).toMatch(/GGNET-ISCSI-ROOT-OK uptime=\S+ marker=ggnet e2e golden image/);
      expect(b.session.versionId).toBe(v2.id);
      expect(b.seen).toBe('none');
    };

    it('BIOS: SeaBIOS iPXE hooks the blank disk, sanboots the ISO (isolinux), the installer writes the system; a UEFI VM then boots it', async () => {
      await installAndBoot('bios', 'uefi', 1);
    });

    it('UEFI: OVMF iPXE hooks the blank disk, sanboots the ISO (El Torito EFI image), the installer writes the system; a BIOS VM then boots it', async () => {
      await installAndBoot('uefi', 'bios', 2);
    });

    it('the medium cannot be deleted while a machine installs from it, and can once install mode ended', async () => {
      const m = await w.api.post<Machine>('/api/v1/machines', {
        name: 'inst-pending',
        mac: '52:54:00:e5:09:01',
        bootMode: 'maintenance',
        installMediaId: media.id,
      });
      const del = await fetch(`${w.api.baseUrl}/api/v1/media/${media.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${w.api.token}` },
      });
      expect(del.status).toBe(409);
      await w.api.patch(`/api/v1/machines/${m.id}`, { installMediaId: null });
      const ok = await fetch(`${w.api.baseUrl}/api/v1/media/${media.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${w.api.token}` },
      });
      expect(ok.status).toBe(204);
    });
  },
);
