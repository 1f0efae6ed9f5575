import { Card, SimpleGrid, Stack } from '@mantine/core';
import { BootLimitsCard } from './boot-limits-card';
import { MaintenancePinCard } from './maintenance-pin-card';
import type { SettingsFields } from './settings-fields';

/**
 * The boot menu, sanboot retries, the pending retry, when an idle session ends, who may pick
 * maintenance at the menu (approval, PIN), and the rate limits of /boot/*.
 */
export function BootTab({ f }: { f: SettingsFields }) {
  return (
    <>
      <Card withBorder>
        <Stack>
          {f.bool('boot.menu', 'Show a boot menu', 'Normal / maintenance / local disk, before booting')}
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            {f.num('boot.menuTimeoutSec', 'Menu timeout', { min: 0, max: 300, suffix: ' s' })}
            {f.num('boot.retries', 'sanboot retries', { min: 0, max: 20 })}
            {f.num('boot.pendingRetrySec', 'Retry while pending approval', {
              min: 2,
              max: 600,
              suffix: ' s',
            })}
          </SimpleGrid>
          {f.num('sessions.idleTimeoutSec', 'End a session after no iSCSI connection for', {
            min: 30,
            max: 604800,
            suffix: ' s',
          })}
          {f.bool(
            'boot.maintenanceApproval',
            "Maintenance from the menu needs an operator's approval",
            'The PC waits until an operator approves or denies it on the dashboard',
          )}
        </Stack>
      </Card>
      <MaintenancePinCard />
      <BootLimitsCard f={f} />
    </>
  );
}
