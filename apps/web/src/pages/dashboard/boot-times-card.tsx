import { useMemo } from 'react';
import { Card, Group, Skeleton, Text, Title } from '@mantine/core';
import { useSessions } from '../../api/queries';
import { BootChart } from '../../components/boot-chart';
import { QueryState } from '../../components/query-state';
import { EmptyState } from '../../components/ui';
import { bootBuckets, overallMedian } from '../../lib/boot-stats';
import { formatSeconds } from '../../lib/format';
import { useNow } from '../../lib/use-now';

/** Boots per hour of the last 24 hours with their median boot time, from the sessions. */
export function BootTimesCard() {
  const now = useNow();
  const q = useSessions({ limit: 500, sort: '-startedAt' });
  // recompute once a minute, not every tick
  const minute = Math.floor(now / 60_000);
  const items = q.data?.items;
  const buckets = useMemo(() => bootBuckets(items ?? [], minute * 60_000 + 59_999), [items, minute]);
  const med = useMemo(() => overallMedian(items ?? [], minute * 60_000 + 59_999), [items, minute]);
  const total = buckets.reduce((a, b) => a + b.count, 0);
  return (
    <Card withBorder padding="md">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Boot times, last 24 h</Title>
        <Text size="sm" c="dimmed">
          {total} boots · median {formatSeconds(med)}
        </Text>
      </Group>
      <QueryState
        query={q}
        loading={<Skeleton h={140} />}
        retry={false}
        isEmpty={() => total === 0 && !buckets.some((b) => b.failed)}
        empty={
          <EmptyState
            title="No boots in the last 24 hours"
            message="Each boot of a machine adds to this chart."
          />
        }
      >
        {() => <BootChart buckets={buckets} />}
      </QueryState>
    </Card>
  );
}
