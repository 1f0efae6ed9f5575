import { Card, Group, Skeleton, Text, Title } from '@mantine/core';
import type { StorageSummary } from '@ggnet/contracts';
import { useOptional } from '../../api/queries';
import { QueryState } from '../../components/query-state';
import { keys } from '../../live/apply-event';
import { StorageBar } from './storage-bar';

/** Disk space of the storage backend: what versions, writebacks and other data take, and the reserve. */
export function StorageCard() {
  const q = useOptional<StorageSummary>(keys.storage, '/storage');
  return (
    <Card withBorder padding="md" data-testid="storage-card">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Storage</Title>
        {q.data && (
          <Text size="xs" c="dimmed">
            {q.data.backend}
          </Text>
        )}
      </Group>
      <QueryState
        query={q}
        loading={<Skeleton h={40} />}
        empty={
          <Text c="dimmed" size="sm">
            Storage accounting is not available from this server yet.
          </Text>
        }
      >
        {(s) => s && <StorageBar s={s} />}
      </QueryState>
    </Card>
  );
}
