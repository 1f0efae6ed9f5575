import { ActionIcon, Card, Group, Table, Text, Title, Tooltip } from '@mantine/core';
import type { Media } from '@ggnet/contracts';
import { useApiMutation, useMedia } from '../../api/queries';
import { QueryTable } from '../../components/query-state';
import { keys } from '../../live/apply-event';
import { formatBytes, formatDateTime } from '../../lib/format';
import { notifyOk } from '../../lib/notify';

/** Install media (ISO files): dropped on the upload area like images, recognised by their content. */
export function MediaCard(props: { canWrite: boolean }) {
  const list = useMedia();
  const remove = useApiMutation<Media, void>(
    (m) => ({ path: `/media/${m.id}`, method: 'DELETE' }),
    [keys.media],
  );
  return (
    <Card withBorder padding={0} mt="md" data-testid="media-card">
      <Group p="sm" justify="space-between">
        <div>
          <Title order={4}>Install media</Title>
          <Text size="xs" c="dimmed">
            ISO files (dropped above like images): a machine in maintenance mode boots one with its disk
            hooked, to install an OS onto a blank image.
          </Text>
        </div>
      </Group>
      <QueryTable
        query={list}
        cols={5}
        emptyTitle="No install media"
        emptyMessage="Drop an installer ISO above."
      >
        {(data) => (
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Size</Table.Th>
                <Table.Th>sha256</Table.Th>
                <Table.Th>Used by</Table.Th>
                <Table.Th>Uploaded</Table.Th>
                {props.canWrite && <Table.Th />}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {data.items.map((m) => (
                <Table.Tr key={m.id}>
                  <Table.Td>
                    <Text size="sm">{m.name}</Text>
                    {m.filename && (
                      <Text size="xs" c="dimmed">
                        {m.filename}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td fz="sm">{formatBytes(m.sizeBytes)}</Table.Td>
                  <Table.Td fz="xs" ff="monospace">
                    <Tooltip label={m.sha256}>
                      <span>{m.sha256.slice(0, 12)}…</span>
                    </Tooltip>
                  </Table.Td>
                  <Table.Td fz="sm">{m.machineCount ? `${m.machineCount} machine(s)` : '—'}</Table.Td>
                  <Table.Td fz="sm">{formatDateTime(m.createdAt)}</Table.Td>
                  {props.canWrite && (
                    <Table.Td>
                      <ActionIcon
                        variant="subtle"
                        color="red"
                        aria-label={`Delete ${m.name}`}
                        disabled={m.machineCount > 0}
                        onClick={async () => {
                          await remove.mutateAsync(m);
                          notifyOk(`${m.name} deleted`);
                        }}
                      >
                        ✕
                      </ActionIcon>
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </QueryTable>
    </Card>
  );
}
