import type { AuditEntry, Image, Machine, Page, Session } from '@ggnet/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootDisk, MARK, type BootDisk } from './lib/bootdisk.js';
import { bootTestsUnavailable } from './lib/netns.js';
import { waitFor } from '@ggnet/testkit';
import { finishBoot, guestFileIn, writebackFile } from './lib/sanboot.js';
import { World } from './lib/world.js';

const skip = bootTestsUnavailable();

// Issue 10: a customer boots a USB stick on the PC next to a running one, gives it that PC's MAC and
// asks GGnet for its boot script. The LAN café setup (the site's DHCP server, GGnet as proxyDHCP, so
// GGnet has no lease to compare with): the second VM carries the first one's MAC on its NIC and runs
// iPXE from "its stick" (ipxe.lkrn with a script) with an address of its own.
(skip ? describe.skip : describe)(
  `boot LAN trust: a VM with the MAC of a running VM${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let w: World;
    let disk: BootDisk;
    let image: Image;
    const HOLD = 60;

    beforeAll(async () => {
      w = new World({
        name: 'boot-trust',
        xfs: true,
        dhcpPeer: true,
        env: {
          GGNET_DHCP_MODE: 'proxy',
          GGNET_AUTO_REGISTER: 'off',
          // the XFS loop file is 4 GiB: the 10 GiB production reserve would refuse every upload
          GGNET_STORAGE_RESERVE: String(256 * 1024 * 1024),
        },
      });
      disk = await buildBootDisk((l) => w.log(l));
      await w.start();
      await w.startSiteDhcp();
      ({ image } = await w.uploadImage('e2e-linux', disk.vhdx));
    });
    afterAll(async () => w?.close());

    it('the second VM gets the refusal screen; the first keeps its session and keeps writing to its disk', async () => {
      const mac = '52:54:00:e6:00:01';
      const m = await w.api.post<Machine>('/api/v1/machines', {
        name: 'victim-1',
        mac,
        bootImageId: image.id,
      });
      // the victim: PXE, iPXE, sanboot, Linux logs in from the iBFT and writes its disk every second
      const victim = w.vm('victim-1', 'bios', mac, { hold: HOLD });
      victim.start();
      await victim.waitFor(new RegExp(`${MARK.heartbeat} 1 ok`), 300_000, new RegExp(MARK.iscsiFailed));
      const session = await waitFor(
        'the victim session to be active with its Linux logged in',
        async () => {
          const s = (await w.machineByMac(mac))?.sessionId;
          const x = s ? await w.session(s) : null;
          return x?.state === 'active' && x.connections.length ? x : null;
        },
        30_000,
        500,
      );
      const victimIp = session.connections[0]!.address;
      expect(victimIp).toMatch(/^10\.99\.0\.1\d\d$/);
      w.record('victim session', { id: session.id, ip: victimIp, console: victim.stages });

      // the attacker: same MAC on its NIC, a static address, GGnet's boot URL with ${net0/mac}
      const attackerIp = '10.99.0.77';
      const spoof = w.vm('spoof-1', 'bios', mac, {
        ipxeScript: [
          '#!ipxe',
          'ifopen net0',
          `set net0/ip ${attackerIp}`,
          'set net0/netmask 255.255.255.0',
          'echo SPOOF: asking GGnet as ${net0/mac} from ${net0/ip}',
          `chain http://${w.net.addr}:8080/boot/ipxe?mac=\${net0/mac}&arch=\${buildarch}&platform=\${platform} || echo SPOOF-CHAIN-FAILED`,
          '',
        ].join('\n'),
      });
      // both NICs get the frames for that MAC, as on a hub (a switch would flip between the two ports)
      w.net.learning(victim.tap, false);
      w.net.learning(spoof.tap, false);
      const hbBefore = (victim.serial().match(new RegExp(`${MARK.heartbeat} \\d+ ok`, 'g')) ?? []).length;
      const t0 = Date.now();
      spoof.start();
      await spoof.waitFor(
        /GGnet: boot refused: victim-1 is running on another PC/,
        120_000,
        /SPOOF-CHAIN-FAILED|Registered SAN device|Booting from SAN device/,
      );
      w.record('spoof: power-on to refusal screen ms', Date.now() - t0);
      // the whole screen: it ends with the retry
      await spoof.waitFor(/Asking again in 30 s/, 10_000);
      const screen = spoof.serial();
      expect(screen).toContain(`SPOOF: asking GGnet as ${mac} from ${attackerIp}`);
      expect(screen).toContain('GGnet never hands the disk of a running PC to another one');
      expect(screen).not.toMatch(/set password|sanboot iscsi:/);

      // refused and recorded: boot event (the machine's timeline), audit log; the session untouched
      const refused = await w.waitEvents(mac, 'the refused boot event', (ev) =>
        ev.some((e) => e.kind === 'refused'),
      );
      expect(refused.find((e) => e.kind === 'refused')).toMatchObject({
        machineId: m.id,
        sessionId: session.id,
        detail: { reason: 'in_use', ip: attackerIp, owner: victimIp },
      });
      const audit = await w.api.get<Page<AuditEntry>>('/api/v1/audit?action=boot.refused');
      expect(audit.items[0]).toMatchObject({ targetId: m.id, ip: attackerIp, statusCode: 403 });
      expect((await w.machineByMac(mac))?.sessionId).toBe(session.id);
      expect(await w.session(session.id)).toMatchObject({ state: 'active', endReason: null });
      await spoof.stop();

      // the victim never noticed: it writes and reads back its disk to the end, on the same session
      await victim.waitFor(new RegExp(`${MARK.heartbeat} ${hbBefore + 5} ok`), 60_000, /FAILED/);
      const b = await finishBoot(w, victim, { name: 'victim-1', firmware: 'bios', mac });
      expect(b.heartbeats).toHaveLength(HOLD);
      expect(b.heartbeats.every((h) => h.endsWith('ok'))).toBe(true);
      expect(b.session.id).toBe(session.id);
      const after: Session = await w.session(session.id);
      expect(after.endReason).toBeNull();
      // what it wrote after the refusal is in its writeback on the server
      const wb = writebackFile(w, session.writebackId!);
      expect((await guestFileIn(w, disk, wb))?.trim()).toBe(b.wrote);
      expect((await guestFileIn(w, disk, wb, 'ggnet-heartbeat.txt'))?.trim()).toBe(`hb ${HOLD}`);
    });
  },
);
