import { Card, Skeleton, Text } from '@mantine/core';
import { Link } from '@tanstack/react-router';

/** How many sessions are live (the page's query: it also tells when they cannot be loaded). */
export function LiveSessionsCard({ total, pending }: { total: number | undefined; pending: boolean }) {
  return (
    <Link to="/sessions" style={{ textDecoration: 'none', color: 'inherit' }}>
      <Card withBorder padding="md" data-testid="count-sessions">
        <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
          Active sessions
        </Text>
        {pending ? (
          <Skeleton h={32} w={60} mt={4} />
        ) : (
          <Text fz={32} fw={700} c="indigo" data-testid="count-value">
            {total ?? '—'}
          </Text>
        )}
      </Card>
    </Link>
  );
}
