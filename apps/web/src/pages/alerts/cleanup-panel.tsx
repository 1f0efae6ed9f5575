import { useState } from 'react';
import { Alert, Button, Card, Group, Stack, Table, Text, Title } from '@mantine/core';
import { IconTrash } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import type { CleanupList, CleanupResult } from '@ggnet/contracts';
import { api } from '../../api/client';
import { useApiMutation } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { ConfirmDialog } from '../../components/confirm';
import { EmptyState, QueryError, TableSkeleton } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { formatBytes, formatDateTime } from '../../lib/format';
import { notifyOk } from '../../lib/notify';

/**
 * Kept writebacks nobody has booted for alerts.cleanupAfterDays: what they hold, and "Clean up now"
 * (operators). Says whether the hourly scheduled cleanup is on (a setting, off by default).
 */
export function CleanupPanel() {
  const canClean = useCan('operator');
  const [confirming, setConfirming] = useState(false);
  const list = useQuery({
    queryKey: [...keys.alerts, 'cleanup'],
    queryFn: ({ signal }) => api<CleanupList>('/storage/cleanup', { signal }),
  });
  const clean = useApiMutation<void, CleanupResult>(
    () => ({ path: '/storage/cleanup', method: 'POST', body: {} }),
    [keys.alerts, keys.storage],
  );
  const d = list.data;
  return (
    <Card withBorder data-testid="cleanup-panel">
      <Stack>
        <Group justify="space-between">
          <div>
            <Title order={4}>Old kept writebacks</Title>
            {d && (
              <Text size="sm" c="dimmed" data-testid="cleanup-status">
                Unused for {d.olderThanDays} days or more ·{' '}
                {d.scheduleEnabled ? 'cleaned every hour (scheduled cleanup on)' : 'scheduled cleanup off'}
              </Text>
            )}
          </div>
          {canClean && d && d.items.length > 0 && (
            <Button
              color="red"
              variant="light"
              leftSection={<IconTrash size={16} />}
              loading={clean.isPending}
              data-testid="cleanup-now"
              onClick={() => setConfirming(true)}
            >
              Clean up now
            </Button>
          )}
        </Group>
        {d && (
          <ConfirmDialog
            opened={confirming}
            title="Discard old kept writebacks"
            message={`Discard ${d.items.length} kept writebacks (${formatBytes(d.totalBytes)})? What the machines changed on them is lost.`}
            confirmLabel="Discard"
            onClose={() => setConfirming(false)}
            onConfirm={() =>
              clean.mutateAsync(undefined).then((r) => notifyOk(`${r.discarded.length} writebacks discarded`))
            }
          />
        )}
        {list.isPending ? (
          <TableSkeleton rows={2} cols={4} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <EmptyState
            title="Nothing to clean up"
            message="No kept writeback has been left unused that long."
          />
        ) : (
          <>
            <Alert color="yellow" variant="light">
              {list.data.items.length} kept writebacks hold {formatBytes(list.data.totalBytes)}.
            </Alert>
            <Table data-testid="cleanup-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Machine</Table.Th>
                  <Table.Th>Image</Table.Th>
                  <Table.Th>Last used</Table.Th>
                  <Table.Th>Size</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.items.map((c) => (
                  <Table.Tr key={c.writebackId} data-writeback={c.writebackId}>
                    <Table.Td>{c.machineName ?? c.machineId}</Table.Td>
                    <Table.Td>{c.imageName ?? c.imageId}</Table.Td>
                    <Table.Td title={formatDateTime(c.lastUsedAt)}>{c.ageDays} days ago</Table.Td>
                    <Table.Td>{c.usedBytes === null ? '–' : formatBytes(c.usedBytes)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </>
        )}
      </Stack>
    </Card>
  );
}
