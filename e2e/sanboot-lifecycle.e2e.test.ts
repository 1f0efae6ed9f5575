import type { Image, ImageVersion, Machine } from '@ggnet/contracts';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootDisk, MARK, readGuestFile, GUEST_FILE, type BootDisk } from './lib/bootdisk.js';
import { alive, GiveUp, waitFor } from '@ggnet/testkit';
import { bootTestsUnavailable } from './lib/netns.js';
import {
  bootVm,
  finishBoot,
  fullTimeline,
  guestFileIn,
  phaseTimes,
  writebackFile,
  type Boot,
} from './lib/sanboot.js';
import { ApiError } from './lib/ggnet.js';
import { World } from './lib/world.js';
import { readFileSync } from 'node:fs';

const skip = bootTestsUnavailable();

// What happens around a boot: a maintenance boot turned into a new version and published, and a
// restart of GGnet under a booted VM that keeps using its disk.
(skip ? describe.skip : describe)(
  `sanboot lifecycle: maintenance + apply, GGnet restart${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let w: World;
    let disk: BootDisk;
    let image: Image;
    let v1: ImageVersion;
    let v1Sha: string;
    const boots: Boot[] = [];

    const machine = (name: string, mac: string, extra: Record<string, unknown> = {}) =>
      w.api.post<Machine>('/api/v1/machines', { name, mac, bootImageId: image.id, ...extra });
    const versionFile = (versionId: string) =>
      join(w.dataDir, 'images', image.id, 'versions', `${versionId}.raw`);
    const tgtdPidFile = () => join(w.dataDir, 'run', `tgtd.${w.tgtControlPort}.pid`);
    const keep = (b: Boot) => {
      boots.push(b);
      w.record(`vm:${b.name}`, { firmware: b.firmware, console: b.vm.stages, session: b.session.id });
      return b;
    };
    const expectLinuxUp = (b: Boot) => {
      expect(b.serial).toContain(MARK.iscsiRoot);
      expect(b.serial).toContain('GGNET-UMOUNT-OK');
      expect(b.ibft).toMatchObject({ initiator: b.machine.initiatorIqn });
      // the CHAP user of that session (a secret per session): <machine>.s<8 hex of the session id>
      expect(b.ibft.chap).toBe(`${b.machine.name}.s${b.session.id.replace(/-/g, '').slice(0, 8)}`);
    };

    beforeAll(async () => {
      w = new World({
        name: 'sanboot-lifecycle',
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
      ({ image, version: v1 } = await w.uploadImage('e2e-linux', disk.vhdx));
      v1Sha = w.versionSha256(image.id, v1.id);
    });
    afterAll(async () => {
      w?.record(
        'boots',
        boots.map((b) => ({ vm: b.name, firmware: b.firmware, markerMs: b.ms.marker, endMs: b.ms.end })),
      );
      await w?.close();
    });

    it('maintenance boot + apply makes a new version; once published, a normal boot sees the change', async () => {
      const m = await machine('maint-1', '52:54:00:e4:00:01', { bootMode: 'maintenance' });
      const b = keep(await bootVm(w, { name: 'maint-1', firmware: 'bios', mac: m.mac }));
      expectLinuxUp(b);
      expect(b.serial).toContain('in MAINTENANCE mode');
      expect(b.session.mode).toBe('maintenance');
      expect(b.seen).toBe('none');
      expect((await guestFileIn(w, disk, writebackFile(w, b.session.writebackId!)))?.trim()).toBe(b.wrote);

      // The VM powered off without an iSCSI logout (as a diskless OS does): tgtd's NOP pings find the
      // dead connection, the monitor records the logout, and apply is allowed.
      const t0 = Date.now();
      await waitFor(
        'the powered-off client to be seen as logged out',
        async () => ((await w.session(b.session.id)).connections.length === 0 ? true : null),
        60_000,
        500,
      );
      w.record('maint-1: power-off to logout ms', Date.now() - t0);
      // its disk becomes version 2 (the writeback file is moved, not copied). Apply asks tgtd itself
      // and refuses while tgtd still holds a connection (session_connected): the monitor's row may
      // not have seen the last login yet when the VM powered off right after Linux logged in, and
      // tgtd drops that dead connection only after its NOP pings go unanswered (~15 s)
      const v2 = await waitFor(
        'apply to be allowed (tgtd dropped the dead connection)',
        async () => {
          try {
            return await w.api.post<ImageVersion>(`/api/v1/sessions/${b.session.id}/apply`, {
              comment: 'e2e: the maintenance boot wrote a file',
            });
          } catch (err) {
            if (err instanceof ApiError && (err.body as { code?: string }).code === 'session_connected')
              return null;
            throw new GiveUp(String(err));
          }
        },
        60_000,
        500,
      );
      w.record('maint-1: power-off to apply allowed ms', Date.now() - t0);
      expect(v2).toMatchObject({ parentVersionId: v1.id, comment: 'e2e: the maintenance boot wrote a file' });
      expect(v2.id).not.toBe(v1.id);
      expect(await w.session(b.session.id)).toMatchObject({ state: 'ended', endReason: 'applied' });
      expect((await readGuestFile(versionFile(v2.id), disk.p1, GUEST_FILE))?.trim()).toBe(b.wrote);
      // not published yet: the image still boots version 1, which never saw the write
      expect((await w.api.get<Image>(`/api/v1/images/${image.id}`)).publishedVersionId).toBe(v1.id);
      expect(w.versionSha256(image.id, v1.id)).toBe(v1Sha);

      await w.api.post(`/api/v1/images/${image.id}/versions/${v2.id}/publish`);
      expect((await w.api.get<Image>(`/api/v1/images/${image.id}`)).publishedVersionId).toBe(v2.id);

      const n = await machine('after-1', '52:54:00:e4:00:02');
      const a = keep(await bootVm(w, { name: 'after-1', firmware: 'bios', mac: n.mac }));
      expectLinuxUp(a);
      expect(a.session.mode).toBe('normal');
      expect(a.session.versionId).toBe(v2.id);
      // the normal boot sees what the maintenance boot wrote, and writes to its own writeback only
      expect(a.seen).toBe(b.wrote);
      expect((await readGuestFile(versionFile(v2.id), disk.p1, GUEST_FILE))?.trim()).toBe(b.wrote);
      expect((await guestFileIn(w, disk, writebackFile(w, a.session.writebackId!)))?.trim()).toBe(a.wrote);
    });

    it('GGnet restarted under a booted VM: the VM keeps using its disk and its session stays active', async () => {
      const m = await machine('restart-1', '52:54:00:e4:00:03');
      // the guest writes and reads back its disk every second for `hold` seconds after "OS up"
      const vm = w.vm('restart-1', 'bios', m.mac, { hold: 30 });
      vm.start();
      await vm.waitFor(new RegExp(`${MARK.heartbeat} 1 ok`), 240_000, new RegExp(MARK.iscsiFailed));
      const before = await waitFor(
        'the session to be active',
        async () => {
          const mm = await w.machineByMac(m.mac);
          const s = mm?.sessionId ? await w.session(mm.sessionId) : null;
          return s?.state === 'active' ? s : null;
        },
        20_000,
        500,
      );
      const tgtdPid = Number(readFileSync(tgtdPidFile(), 'utf8').trim());
      expect(alive(tgtdPid)).toBe(true);

      const oldPid = w.ggnet.pid!;
      const t0 = Date.now();
      await w.ggnet.stop();
      expect(alive(oldPid)).toBe(false);
      w.log(`ggnet ${oldPid} stopped`);
      // with GGnet gone, tgtd (not stopped by design) still serves the VM
      const hbDown = vm.serial().match(new RegExp(`${MARK.heartbeat} (\\d+) ok`, 'g'))?.length ?? 0;
      await vm.waitFor(new RegExp(`${MARK.heartbeat} ${hbDown + 1} ok`), 15_000, /FAILED/);
      expect(alive(tgtdPid)).toBe(true);

      await w.ggnet.start();
      w.record('ggnet restart ms', Date.now() - t0);
      expect(w.ggnet.pid).not.toBe(oldPid);
      const hbUp = vm.serial().match(new RegExp(`${MARK.heartbeat} (\\d+) ok`, 'g'))?.length ?? 0;
      // the new GGnet adopted tgtd and the session: a few monitor passes later it is still active
      await vm.waitFor(new RegExp(`${MARK.heartbeat} ${hbUp + 3} ok`), 30_000, /FAILED/);
      const after = await w.session(before.id);
      expect(after).toMatchObject({
        id: before.id,
        state: 'active',
        endReason: null,
        targetId: before.targetId,
      });
      expect(after.connections.length).toBeGreaterThan(0);
      expect(Number(readFileSync(tgtdPidFile(), 'utf8').trim())).toBe(tgtdPid);
      expect((await w.machineByMac(m.mac))?.sessionId).toBe(before.id);

      // the guest finishes its heartbeats on the same disk and shuts down cleanly
      const b = keep(await finishBoot(w, vm, { name: 'restart-1', firmware: 'bios', mac: m.mac }));
      expect(b.heartbeats).toHaveLength(30);
      expect(b.heartbeats.every((h) => h.endsWith('ok'))).toBe(true);
      expectLinuxUp(b);
      expect((await w.session(before.id)).state).toBe('active');
      expect((await guestFileIn(w, disk, writebackFile(w, before.writebackId!)))?.trim()).toBe(b.wrote);
    });

    it("a long iPXE stage survives tgtd dropping iPXE's connection (it answers no NOP pings): iPXE reopens it", async () => {
      // iPXE does not answer tgtd's NOP-In pings, so tgtd drops its connection ~20 s after login; a
      // long firmware stage (a Windows boot loader reads for a while through INT13) must survive it
      const m = await machine('slow-ipxe-1', '52:54:00:e4:00:04');
      const tgtdLog = join(w.dataDir, 'logs', `tgtd.${w.tgtControlPort}.log`);
      const timeouts = () =>
        (readFileSync(tgtdLog, 'utf8').match(/timed out after \d+ failed NOP-OUT/g) ?? []).length;
      const before = timeouts();
      const vm = w.vm('slow-ipxe-1', 'bios', m.mac);
      vm.start();
      await vm.waitFor(/Booting from SAN device/, 240_000);
      // pause the whole VM in the middle of the INT13 stage until tgtd has given up on iPXE
      process.kill(vm.pid!, 'SIGSTOP');
      try {
        await waitFor("tgtd to drop iPXE's connection", () => timeouts() > before, 60_000, 500);
      } finally {
        process.kill(vm.pid!, 'SIGCONT');
      }
      const b = keep(await finishBoot(w, vm, { name: 'slow-ipxe-1', firmware: 'bios', mac: m.mac }));
      expectLinuxUp(b);
      expect((await guestFileIn(w, disk, writebackFile(w, b.session.writebackId!)))?.trim()).toBe(b.wrote);
      await fullTimeline(w, b);
      // logged in, dropped during the pause, logged in again (iPXE's reopen, then Linux; the monitor
      // polls every few seconds, so it may see the new connection only after the guest's end)
      await waitFor(
        'a login after the dropped connection in the timeline',
        async () => {
          const kinds = (await w.timeline(b.session.id)).map((e) => e.kind);
          const out = kinds.indexOf('iscsi_logout');
          return out > kinds.indexOf('iscsi_login') && kinds.lastIndexOf('iscsi_login') > out;
        },
        20_000,
        500,
      );
    });

    it('every boot has a full timeline: DHCP, script, iSCSI login, OS up', async () => {
      expect(boots.length).toBeGreaterThan(0);
      for (const b of boots) {
        const ev = await fullTimeline(w, b);
        expect(ev.every((e) => e.sessionId === b.session.id)).toBe(true);
        const kinds = ev.map((e) => e.kind);
        expect(kinds.indexOf('dhcp_ack')).toBeLessThan(kinds.indexOf('script'));
        expect(kinds.indexOf('script')).toBeLessThan(kinds.indexOf('os_up'));
        w.record(`timeline:${b.name}`, phaseTimes(ev));
      }
    });
  },
);
