import { ActionIcon, Badge, Stack, Table, Text, Tooltip } from '@mantine/core';
import { IconTrash } from '@tabler/icons-react';
import type { Target } from '@ggnet/contracts';
import { StatusBadge, TableHead } from '../../components/ui';
import { formatBytes } from '../../lib/format';
import { ChapSecret } from './chap-secret';

/** The targets GGnet serves: LUNs, ACL, CHAP, who is logged in; admins may remove one. */
export function TargetsTable(props: {
  targets: Target[];
  machineName: Map<string, string>;
  imageName: Map<string, string>;
  isAdmin: boolean;
  onRemove: (t: Target) => void;
}) {
  const { machineName, imageName, isAdmin } = props;
  return (
    <Table.ScrollContainer minWidth={980}>
      <Table verticalSpacing={8} data-testid="targets-table">
        <TableHead columns={['Target', 'State', 'LUNs', 'ACL', 'CHAP', 'Connected', isAdmin && '']} />
        <Table.Tbody>
          {props.targets.map((t) => (
            <Table.Tr key={t.id}>
              <Table.Td>
                <Text size="sm" ff="monospace">
                  {t.iqn}
                </Text>
                <Text size="xs" c="dimmed">
                  {t.machineId ? (machineName.get(t.machineId) ?? t.machineId) : 'manual'} · {t.backend}
                </Text>
              </Table.Td>
              <Table.Td>
                <StatusBadge status={t.state} />
                {t.error && (
                  <Text size="xs" c="red">
                    {t.error}
                  </Text>
                )}
              </Table.Td>
              <Table.Td>
                <Stack gap={2}>
                  {t.luns.map((l) => (
                    <Text size="xs" key={l.lun}>
                      LUN {l.lun} · {l.kind} · {l.imageId ? (imageName.get(l.imageId) ?? 'image') : '—'} ·{' '}
                      {formatBytes(l.sizeBytes)}
                    </Text>
                  ))}
                </Stack>
              </Table.Td>
              <Table.Td>
                <Text size="xs" ff="monospace">
                  {t.initiatorIqn}
                </Text>
                <Text size="xs" c="dimmed">
                  {t.allowedAddress ? `from ${t.allowedAddress}` : 'any address'}
                  {t.mutualChap ? ' · mutual CHAP' : ''}
                </Text>
              </Table.Td>
              <Table.Td>
                <ChapSecret target={t} />
              </Table.Td>
              <Table.Td>
                {t.connections.length === 0 ? (
                  <Text size="sm" c="dimmed">
                    none
                  </Text>
                ) : (
                  t.connections.map((c) => (
                    <Badge
                      key={`${c.initiator}-${c.address}`}
                      variant="light"
                      color="teal"
                      size="sm"
                      title={c.initiator}
                    >
                      {c.address}
                    </Badge>
                  ))
                )}
              </Table.Td>
              {isAdmin && (
                <Table.Td>
                  <Tooltip label="Remove the target (a PC using it loses its disk)">
                    <ActionIcon
                      variant="subtle"
                      color="red"
                      aria-label={`Remove ${t.iqn}`}
                      onClick={() => props.onRemove(t)}
                    >
                      <IconTrash size={16} />
                    </ActionIcon>
                  </Tooltip>
                </Table.Td>
              )}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
