import type { AuditEntry, Machine, Page } from '@ggnet/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootTestsUnavailable } from './lib/netns.js';
import { World } from './lib/world.js';

const skip = bootTestsUnavailable();
const PIN = '482916';

// Issue 10, point 4, with a real iPXE (QEMU's e1000 ROM, BIOS, TCG): the boot menu offers
// maintenance only behind the PIN; the PIN is typed into iPXE's login form on the serial console,
// masked; a wrong one is refused and audited, the right one unlocks maintenance. The machine has no
// image, so an unlocked maintenance choice ends at "has no image to boot": no disk is needed here.
(skip ? describe.skip : describe)(
  `boot menu: maintenance behind the PIN, in a real iPXE${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let w: World;

    beforeAll(async () => {
      w = new World({
        name: 'boot-menu-pin',
        env: {
          GGNET_DHCP_MODE: 'dhcp',
          GGNET_DHCP_RANGE: '10.99.0.100,10.99.0.199',
          GGNET_AUTO_REGISTER: 'off',
        },
      });
      await w.start();
      await w.api.put('/api/v1/settings', { boot: { menu: true, menuTimeoutSec: 120 } });
      await w.api.put('/api/v1/boot/maintenance/pin', { pin: PIN });
    });
    afterAll(async () => w?.close());

    it('BIOS: menu -> maintenance -> login form; a wrong PIN is refused, the right one unlocks it', async () => {
      const mac = '52:54:00:e2:0a:01';
      const m = await w.api.post<Machine>('/api/v1/machines', { name: 'maint-pin', mac });
      const vm = w.vm('bios-pin', 'bios', mac, { serialInput: true });
      vm.start();
      await vm.waitFor(/GGnet - maint-pin \(no image\)/, 120_000);
      await vm.waitFor(/Maintenance \(needs the PIN or an operator approval\)/, 10_000);
      await vm.type('\x1b[B\r'); // down to "maintenance", Enter
      await vm.waitFor(/Enter the maintenance PIN as the password/, 60_000);
      await vm.waitFor(/Password/, 30_000);
      await vm.type(`x\r000000\r`); // user name (not used), Enter, the wrong PIN, Enter
      await vm.waitFor(/Wrong PIN/, 60_000);
      // the form again, fresh: now the right PIN
      await vm.waitFor(/Wrong PIN[\s\S]*Password/, 30_000);
      await vm.type(`x\r${PIN}\r`);
      await vm.waitFor(/maint-pin has no image to boot/, 60_000);
      // typed into a masked field: the PIN never shows on the console
      expect(vm.serial()).not.toContain(PIN);
      expect(vm.serial()).not.toContain('000000');
      const audit = await w.api.get<Page<AuditEntry>>('/api/v1/audit?limit=100');
      const mine = audit.items.filter((a) => a.targetId === m.id);
      const wrong = mine.find((a) => a.action === 'boot.maintenance_pin_wrong');
      expect(wrong).toMatchObject({ statusCode: 403, username: null });
      expect(wrong!.ip).toMatch(/^10\.99\.0\.1\d\d$/);
      expect(mine.find((a) => a.action === 'boot.maintenance_unlocked')).toMatchObject({ ip: wrong!.ip });
      w.record('bios-pin', vm.stages);
      await vm.stop();
    });
  },
);
