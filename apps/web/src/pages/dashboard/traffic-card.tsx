import { Box, Card, Group, Skeleton, Text, Title } from '@mantine/core';
import { TRAFFIC_HISTORY } from '@ggnet/contracts';
import { useTraffic } from '../../api/queries';
import { QueryState } from '../../components/query-state';
import { Sparkline } from '../../components/sparkline';
import { formatRate } from '../../lib/format';

/** The room's iSCSI throughput: what all clients read and write now, and over the last minutes. */
export function TrafficCard() {
  const q = useTraffic();
  return (
    <Card withBorder padding="md" data-testid="traffic-card">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Disk traffic</Title>
        {q.data && (
          <Text size="xs" c="dimmed">
            {q.data.machines.length} client{q.data.machines.length === 1 ? '' : 's'} ·{' '}
            {Math.round((TRAFFIC_HISTORY * q.data.intervalSec) / 60)} min
          </Text>
        )}
      </Group>
      <QueryState
        query={q}
        loading={<Skeleton h={90} />}
        empty={
          <Text c="dimmed" size="sm">
            Live traffic is not available from this server yet.
          </Text>
        }
      >
        {(t) => {
          if (!t) return null;
          const now = t.total.at(-1);
          const peak = Math.max(0, ...t.total.map((p) => p.readBytesPerSec + p.writeBytesPerSec));
          return (
            <>
              <Group gap="lg" mb={6}>
                <Text size="sm" c="teal" data-testid="room-read">
                  ↓ read {formatRate(now?.readBytesPerSec)}
                </Text>
                <Text size="sm" c="orange" data-testid="room-write">
                  ↑ write {formatRate(now?.writeBytesPerSec)}
                </Text>
                <Text size="xs" c="dimmed">
                  peak {formatRate(peak)}
                </Text>
              </Group>
              <Box data-testid="room-chart">
                <Sparkline
                  points={t.total}
                  slots={TRAFFIC_HISTORY}
                  width={480}
                  height={80}
                  fluid
                  label="room throughput"
                />
              </Box>
            </>
          );
        }}
      </QueryState>
    </Card>
  );
}
