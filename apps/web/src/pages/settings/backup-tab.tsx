import { Card, SimpleGrid, Stack } from '@mantine/core';
import { BackupsPanel } from '../backups/backups-panel';
import type { SettingsFields } from './settings-fields';

/** The daily backup's schedule and how many are kept, and the backups themselves. */
export function BackupTab({ f }: { f: SettingsFields }) {
  return (
    <Stack>
      <Card withBorder>
        <SimpleGrid cols={{ base: 1, sm: 3 }}>
          {f.bool('backup.daily', 'Daily backup', 'Database, secrets, configuration, settings')}
          {f.num('backup.hour', 'At (hour of the day)', { min: 0, max: 23, suffix: ':00' })}
          {f.num('backup.keep', 'Daily backups kept', { min: 1, max: 365 })}
        </SimpleGrid>
      </Card>
      <BackupsPanel />
    </Stack>
  );
}
