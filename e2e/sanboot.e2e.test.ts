import type { Image, ImageVersion, Machine, Writeback } from '@ggnet/contracts';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootDisk, MARK, type BootDisk } from './lib/bootdisk.js';
import { bootTestsUnavailable } from './lib/netns.js';
import { waitFor } from '@ggnet/testkit';
import {
  bootVm,
  fullTimeline,
  guestFileIn,
  phaseTimes,
  servedFile,
  writebackFile,
  type Boot,
} from './lib/sanboot.js';
import { World } from './lib/world.js';

const skip = bootTestsUnavailable();

// VMs PXE-boot and sanboot the uploaded image from GGnet (dhcp mode on the test's own bridge): BIOS
// and UEFI, three at once, reboots with and without keep-writeback. Each guest logs in again from
// Linux with the iBFT iPXE left, writes a file on its disk and calls POST /boot/ready.
(skip ? describe.skip : describe)(
  `sanboot: VMs boot the uploaded image over iSCSI${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let w: World;
    let disk: BootDisk;
    let image: Image;
    let version: ImageVersion;
    let masterSha: string;
    const boots: Boot[] = [];

    const machine = (name: string, mac: string, extra: Record<string, unknown> = {}) =>
      w.api.post<Machine>('/api/v1/machines', { name, mac, bootImageId: image.id, ...extra });

    const boot = async (o: Parameters<typeof bootVm>[1]) => {
      const b = await bootVm(w, o);
      boots.push(b);
      w.record(`vm:${b.name}`, { firmware: b.firmware, console: b.vm.stages, session: b.session.id });
      return b;
    };

    /** What Linux itself proved: iBFT as GGnet set it, iSCSI login, mount, write, OS up. */
    const expectGuestUp = (b: Boot) => {
      expect(b.serial).toContain(MARK.boot);
      expect(b.serial).toContain(MARK.iscsiRoot);
      expect(b.serial).not.toContain(MARK.iscsiFailed);
      expect(b.serial).toContain('GGNET-UMOUNT-OK');
      expect(b.ibft).toMatchObject({
        initiator: b.machine.initiatorIqn,
        // the CHAP user of that session (a secret per session): <machine>.s<8 hex of the session id>
        chap: `${b.machine.name}.s${b.session.id.replace(/-/g, '').slice(0, 8)}`,
        portal: `${w.net.addr}:3260`,
        // iscsi_ibft prints the 8 LUN bytes as %x each: LUN 1 (tgt's first disk) is 0,1,0,0,0,0,0,0
        lun: '01000000',
      });
      expect(b.session.state).toMatch(/^(ready|active)$/);
      expect(b.session.machineId).toBe(b.machine.id);
      expect(b.session.writebackId).toBeTruthy();
      // the guest's POST /boot/ready was accepted for its own session
      expect(JSON.parse(b.readyReply)).toEqual({ sessionId: b.session.id, recorded: true });
    };

    beforeAll(async () => {
      w = new World({
        name: 'sanboot',
        xfs: true,
        env: {
          GGNET_DHCP_MODE: 'dhcp',
          GGNET_DHCP_RANGE: '10.99.0.100,10.99.0.199',
          GGNET_AUTO_REGISTER: 'off',
          // the XFS loop file is 4 GiB: the 10 GiB production reserve would refuse every upload
          GGNET_STORAGE_RESERVE: String(256 * 1024 * 1024),
        },
      });
      disk = await buildBootDisk((l) => w.log(l));
      await w.start();
      const t0 = Date.now();
      ({ image, version } = await w.uploadImage('e2e-linux', disk.vhdx));
      w.record('upload+conversion ms', Date.now() - t0);
      masterSha = w.versionSha256(image.id, version.id);
    });
    afterAll(async () => {
      if (boots.length) {
        w?.record(
          'boots',
          boots.map((b) => ({
            vm: b.name,
            firmware: b.firmware,
            markerMs: b.ms.marker,
            endMs: b.ms.end,
            console: b.vm.stages,
          })),
        );
      }
      await w?.close();
    });

    it('BIOS: SeaBIOS + iPXE sanboots the image, Linux logs in from the iBFT and its write lands in the writeback', async () => {
      const mac = '52:54:00:e3:00:01';
      await machine('bios-1', mac);
      const b = await boot({ name: 'bios-1', firmware: 'bios', mac });
      expectGuestUp(b);
      expect(b.serial).toMatch(/EXTLINUX|SYSLINUX/);
      expect(b.serial).toContain('ggnetboot=bios-extlinux');
      expect(b.seen).toBe('none');
      const file = writebackFile(w, b.session.writebackId!);
      expect((await guestFileIn(w, disk, file))?.trim()).toBe(b.wrote);
      // the version the machine booted is untouched
      expect(w.versionSha256(image.id, version.id)).toBe(masterSha);
    });

    it('UEFI: OVMF PXE -> TFTP snponly.efi -> iPXE sanboots the image (systemd-boot on the ESP)', async () => {
      const mac = '52:54:00:e3:00:02';
      await machine('uefi-1', mac);
      const b = await boot({ name: 'uefi-1', firmware: 'uefi', mac });
      expectGuestUp(b);
      expect(b.serial).toContain('ggnetboot=uefi-systemd-boot');
      expect(b.seen).toBe('none');
      const file = writebackFile(w, b.session.writebackId!);
      expect((await guestFileIn(w, disk, file))?.trim()).toBe(b.wrote);
      expect(w.versionSha256(image.id, version.id)).toBe(masterSha);
    });

    it('three VMs boot at the same time, each on its own writeback; the master version is unchanged', async () => {
      const names = ['par-1', 'par-2', 'par-3'];
      const macs = names.map((_, i) => `52:54:00:e3:01:0${i + 1}`);
      for (const [i, n] of names.entries()) await machine(n, macs[i]!);
      const t0 = Date.now();
      const bs = await Promise.all(names.map((name, i) => boot({ name, firmware: 'bios', mac: macs[i]! })));
      w.record('parallel: 3 BIOS boots, wall ms', Date.now() - t0);
      for (const b of bs) expectGuestUp(b);
      // really at the same time: every session started before any of the three guests was up
      const osUp = await Promise.all(
        bs.map(async (b) => Date.parse((await fullTimeline(w, b)).find((e) => e.kind === 'os_up')!.at)),
      );
      expect(Math.max(...bs.map((b) => Date.parse(b.session.startedAt)))).toBeLessThan(Math.min(...osUp));
      // three live sessions at once, three different disks
      expect(new Set(bs.map((b) => b.session.id)).size).toBe(3);
      expect(new Set(bs.map((b) => b.session.writebackId)).size).toBe(3);
      expect(new Set(bs.map((b) => b.wrote)).size).toBe(3);
      const stores = await w.backingStores();
      for (const b of bs) {
        // nobody saw a file: neither the image's (it has none) nor another VM's
        expect(b.seen).toBe('none');
        const file = writebackFile(w, b.session.writebackId!);
        expect((await guestFileIn(w, disk, file))?.trim()).toBe(b.wrote);
        // tgtd serves this machine's writeback, not the version file and not another machine's
        const target = await w.api.get<{ iqn: string }>(`/api/v1/targets/${b.session.targetId}`);
        expect(stores.get(target.iqn)).toEqual([servedFile(w, b.session.writebackId!)]);
      }
      expect(w.versionSha256(image.id, version.id)).toBe(masterSha);
    });

    it('a rebooted VM gets a fresh writeback; with keep-writeback it continues on the kept one', async () => {
      const mac = '52:54:00:e3:02:01';
      const m = await machine('reboot-1', mac);
      const b1 = await boot({ name: 'reboot-1a', firmware: 'bios', mac });
      expectGuestUp(b1);
      const file1 = writebackFile(w, b1.session.writebackId!);
      expect((await guestFileIn(w, disk, file1))?.trim()).toBe(b1.wrote);

      // power on again: a new session on a fresh writeback; the first write is gone with its writeback
      const b2 = await boot({ name: 'reboot-1b', firmware: 'bios', mac });
      expectGuestUp(b2);
      expect(b2.seen).toBe('none');
      expect(b2.session.id).not.toBe(b1.session.id);
      expect(b2.session.writebackId).not.toBe(b1.session.writebackId);
      expect(await w.session(b1.session.id)).toMatchObject({ state: 'ended', endReason: 'rebooted' });
      await waitFor(`writeback ${b1.session.writebackId} to be discarded`, () => !existsSync(file1), 20_000);
      const wb1 = await w.api.get<Writeback>(`/api/v1/writebacks/${b1.session.writebackId}`);
      expect(wb1.state).toBe('discarded');

      // keep-writeback: the next boot continues on the disk of the previous one
      await w.api.patch<Machine>(`/api/v1/machines/${m.id}`, { keepWriteback: true });
      const b3 = await boot({ name: 'reboot-1c', firmware: 'bios', mac });
      expectGuestUp(b3);
      expect(b3.seen).toBe(b2.wrote);
      expect(b3.session.id).not.toBe(b2.session.id);
      expect(b3.session.writebackId).toBe(b2.session.writebackId);
      expect(await w.session(b2.session.id)).toMatchObject({ state: 'ended', endReason: 'rebooted' });
      const file3 = writebackFile(w, b3.session.writebackId!);
      expect((await guestFileIn(w, disk, file3))?.trim()).toBe(b3.wrote);
      expect(w.versionSha256(image.id, version.id)).toBe(masterSha);
    });

    it('every boot has a full timeline: DHCP, TFTP (UEFI), script, iSCSI login, OS up', async () => {
      expect(boots.length).toBeGreaterThan(0);
      for (const b of boots) {
        const ev = await fullTimeline(w, b);
        const kinds = ev.map((e) => e.kind);
        // in order: the firmware's DHCP before the script, the script before the login, OS up last
        expect(kinds.indexOf('dhcp_ack')).toBeLessThan(kinds.indexOf('script'));
        expect(kinds.indexOf('script')).toBeLessThan(kinds.indexOf('iscsi_login'));
        expect(kinds.indexOf('script')).toBeLessThan(kinds.indexOf('os_up'));
        expect(ev.every((e) => e.sessionId === b.session.id)).toBe(true);
        if (b.firmware === 'uefi') {
          const t = ev.filter((e) => e.kind === 'tftp');
          expect(t.some((e) => e.detail.file === 'snponly.efi' && e.detail.ok === true)).toBe(true);
        } else {
          // QEMU's BIOS NIC ROM is iPXE already: no TFTP stage
          expect(kinds).not.toContain('tftp');
        }
        const login = ev.find((e) => e.kind === 'iscsi_login')!;
        expect(login.detail).toMatchObject({ initiator: b.machine.initiatorIqn });
        w.record(`timeline:${b.name}`, phaseTimes(ev));
      }
    });
  },
);
