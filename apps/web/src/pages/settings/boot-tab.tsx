import { Card, SimpleGrid, Stack } from '@mantine/core';
import type { SettingsFields } from './settings-fields';

/** The boot menu, sanboot retries, the pending retry, and when an idle session ends. */
export function BootTab({ f }: { f: SettingsFields }) {
  return (
    <Card withBorder>
      <Stack>
        {f.bool('boot.menu', 'Show a boot menu', 'Normal / maintenance / local disk, before booting')}
        <SimpleGrid cols={{ base: 1, sm: 3 }}>
          {f.num('boot.menuTimeoutSec', 'Menu timeout', { min: 0, max: 300, suffix: ' s' })}
          {f.num('boot.retries', 'sanboot retries', { min: 0, max: 20 })}
          {f.num('boot.pendingRetrySec', 'Retry while pending approval', { min: 2, max: 600, suffix: ' s' })}
        </SimpleGrid>
        {f.num('sessions.idleTimeoutSec', 'End a session after no iSCSI connection for', {
          min: 30,
          max: 604800,
          suffix: ' s',
        })}
      </Stack>
    </Card>
  );
}
