import { Stack } from '@mantine/core';
import { PageHeader } from '../../components/ui';
import { AlertsPanel } from './alerts-panel';
import { CleanupPanel } from './cleanup-panel';

/** Space alerts and the cleanup of old kept writebacks (issue 14 point 5). */
export function AlertsPage() {
  return (
    <>
      <PageHeader
        title="Alerts"
        description="Writebacks, images and the storage array against their limits; kept writebacks left unused."
      />
      <Stack>
        <AlertsPanel />
        <CleanupPanel />
      </Stack>
    </>
  );
}
