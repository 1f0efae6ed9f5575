import { Card, Table, Text, Title } from '@mantine/core';
import type { BootEvent, Page } from '@ggnet/contracts';
import { useOptional } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { refusalLabel } from '../../lib/boot-refusal';
import { formatRelative } from '../../lib/format';
import { useNow } from '../../lib/use-now';

/** The latest boot events (GET /boot/events); null from a server without them. */
export const useBootEvents = () => useOptional<Page<BootEvent>>(keys.boot, '/boot/events', { limit: 15 });

/** Boot activity (DHCP, TFTP, script, iSCSI, OS up) from GET /api/v1/boot/events, also of unknown PCs. */
export function BootActivity({ q }: { q: ReturnType<typeof useBootEvents> }) {
  const now = useNow();
  if (!q.data) return null;
  return (
    <Card withBorder padding="md" data-testid="boot-activity">
      <Title order={5} mb="xs">
        Boot activity
      </Title>
      {q.data.items.length === 0 ? (
        <Text c="dimmed" size="sm">
          No PC has asked for a boot yet.
        </Text>
      ) : (
        <Table fz="sm" verticalSpacing={4}>
          <Table.Tbody>
            {q.data.items.map((e) => (
              <Table.Tr key={e.id} data-kind={e.kind}>
                <Table.Td c="dimmed" w={110}>
                  {formatRelative(e.at, now)}
                </Table.Td>
                <Table.Td
                  c={e.kind === 'refused' ? 'red' : undefined}
                  fw={e.kind === 'refused' ? 600 : undefined}
                >
                  {e.kind.replace('_', ' ')}
                  {e.kind === 'refused' && typeof e.detail.reason === 'string' && (
                    <Text span size="xs" c="red">
                      {' '}
                      {refusalLabel(e.detail.reason)}
                    </Text>
                  )}
                  {typeof e.detail.result === 'string' && (
                    <Text span size="xs" c="dimmed">
                      {' '}
                      {e.detail.result.replace('_', ' ')}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td ff="monospace">{e.mac ?? ''}</Table.Td>
                <Table.Td c="dimmed">{typeof e.detail.ip === 'string' ? e.detail.ip : ''}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}
