import { useSyncExternalStore } from 'react';
import { Card, Table, Text, Title } from '@mantine/core';
import { eventFeed } from '../../live/event-feed';
import { formatRelative } from '../../lib/format';
import { useNow } from '../../lib/use-now';

/** What happened since the page opened: the live events, newest first. */
export function RecentEvents() {
  const items = useSyncExternalStore(eventFeed.subscribe, eventFeed.get);
  const now = useNow();
  return (
    <Card withBorder padding="md" data-testid="recent-events">
      <Title order={5} mb="xs">
        Recent events
      </Title>
      {items.length === 0 ? (
        <Text c="dimmed" size="sm">
          Nothing has happened since this page opened. Events appear here live.
        </Text>
      ) : (
        <Table fz="sm" verticalSpacing={4}>
          <Table.Tbody>
            {items.slice(0, 15).map((e) => (
              <Table.Tr key={e.seq}>
                <Table.Td c="dimmed" w={110}>
                  {formatRelative(new Date(e.at).toISOString(), now)}
                </Table.Td>
                <Table.Td>{e.type}</Table.Td>
                <Table.Td c="dimmed">{eventSubject(e.data) ?? e.id}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

function eventSubject(data: unknown): string | null {
  if (!data || typeof data !== 'object') return null;
  const d = data as Record<string, unknown>;
  for (const k of ['name', 'machineName', 'username', 'iqn', 'type'])
    if (typeof d[k] === 'string') return d[k];
  return null;
}
