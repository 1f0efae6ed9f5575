import { Card, Skeleton, Text } from '@mantine/core';
import { Link } from '@tanstack/react-router';
import type { Machine } from '@ggnet/contracts';
import { useMachineCount } from '../../api/queries';

/** How many machines have a status; a click lists them. */
export function MachineCountCard(props: { status: Machine['status']; label: string; color: string }) {
  const q = useMachineCount(props.status);
  return (
    <Link
      to="/machines"
      search={{ status: props.status }}
      style={{ textDecoration: 'none', color: 'inherit' }}
    >
      <Card withBorder padding="md" data-testid={`count-${props.status}`}>
        <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
          {props.label}
        </Text>
        {q.isPending ? (
          <Skeleton h={32} w={60} mt={4} />
        ) : (
          <Text fz={32} fw={700} c={props.color} data-testid="count-value">
            {q.data ?? '—'}
          </Text>
        )}
      </Card>
    </Link>
  );
}
