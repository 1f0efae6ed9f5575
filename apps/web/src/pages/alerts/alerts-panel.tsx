import { useState } from 'react';
import { Badge, Button, Card, Group, SegmentedControl, Stack, Table, Text, Title } from '@mantine/core';
import { IconCheck } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import type { Alert, Page } from '@ggnet/contracts';
import { api } from '../../api/client';
import { useApiMutation } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { EmptyState, QueryError, TableSkeleton } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { formatBytes, formatDateTime, formatRelative } from '../../lib/format';
import { notifyOk } from '../../lib/notify';

const KIND: Record<Alert['kind'], string> = {
  'writeback.limit': 'Writeback over its limit',
  'writebacks.total': 'Writebacks over the total limit',
  'image.limit': 'Image over its limit',
  'array.usage': 'Array filling up',
  'array.reserve': 'Near the reserve',
};

/** The measure as people read it: percent for the array's usage, bytes for the rest. */
export function formatMeasure(a: Pick<Alert, 'kind' | 'value' | 'threshold'>): string {
  return a.kind === 'array.usage'
    ? `${a.value.toFixed(1)} % (threshold ${a.threshold} %)`
    : a.kind === 'array.reserve'
      ? `${formatBytes(a.value)} free (warn below ${formatBytes(a.threshold)})`
      : `${formatBytes(a.value)} of ${formatBytes(a.threshold)}`;
}

/**
 * Space alerts: the open ones first (severity, what, the measure, since when, acknowledged by whom),
 * or the history of cleared ones. Operators acknowledge. Live through the `alert.*` events.
 */
export function AlertsPanel() {
  const [state, setState] = useState<'raised' | 'cleared'>('raised');
  const canAck = useCan('operator');
  const list = useQuery({
    queryKey: [...keys.alerts, 'list', state],
    queryFn: ({ signal }) => api<Page<Alert>>('/alerts', { query: { state, limit: 100 }, signal }),
  });
  const ack = useApiMutation<string, Alert>(
    (id) => ({ path: `/alerts/${id}/acknowledge`, method: 'POST' }),
    [keys.alerts],
  );

  return (
    <Card withBorder data-testid="alerts-panel">
      <Stack>
        <Group justify="space-between">
          <Title order={4}>Space alerts</Title>
          <SegmentedControl
            size="xs"
            value={state}
            onChange={(v) => setState(v as 'raised' | 'cleared')}
            data={[
              { value: 'raised', label: 'Open' },
              { value: 'cleared', label: 'Cleared' },
            ]}
          />
        </Group>
        {list.isPending ? (
          <TableSkeleton rows={3} cols={5} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <EmptyState
            title={state === 'raised' ? 'No open alerts' : 'No cleared alerts yet'}
            message={
              state === 'raised'
                ? 'Writebacks, images and the array are within their limits.'
                : 'Alerts appear here once their measure is back under the threshold.'
            }
          />
        ) : (
          <Table data-testid="alerts-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Severity</Table.Th>
                <Table.Th>Alert</Table.Th>
                <Table.Th>Measure</Table.Th>
                <Table.Th>{state === 'raised' ? 'Since' : 'Cleared'}</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.data.items.map((a) => (
                <Table.Tr key={a.id} data-alert={a.id}>
                  <Table.Td>
                    <Badge color={a.severity === 'critical' ? 'red' : 'yellow'} variant="light">
                      {a.severity}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" fw={500}>
                      {KIND[a.kind]}
                      {a.subjectName ? `: ${a.subjectName}` : ''}
                    </Text>
                    <Text size="xs" c="dimmed">
                      {a.message}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{formatMeasure(a)}</Text>
                  </Table.Td>
                  <Table.Td title={formatDateTime(a.clearedAt ?? a.raisedAt)}>
                    <Text size="sm">{formatRelative(a.clearedAt ?? a.raisedAt)}</Text>
                  </Table.Td>
                  <Table.Td>
                    {a.acknowledgedAt ? (
                      <Text size="xs" c="dimmed" data-testid="acknowledged">
                        acknowledged by {a.acknowledgedBy ?? 'someone'}
                      </Text>
                    ) : (
                      canAck &&
                      a.state === 'raised' && (
                        <Button
                          size="xs"
                          variant="light"
                          leftSection={<IconCheck size={14} />}
                          loading={ack.isPending && ack.variables === a.id}
                          onClick={() =>
                            ack.mutate(a.id, { onSuccess: () => notifyOk('Alert acknowledged') })
                          }
                        >
                          Acknowledge
                        </Button>
                      )
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Stack>
    </Card>
  );
}
