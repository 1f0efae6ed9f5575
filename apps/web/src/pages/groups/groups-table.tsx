import { ActionIcon, Badge, Group as Row, Table, Text, Tooltip } from '@mantine/core';
import { IconBolt, IconPencil, IconTrash } from '@tabler/icons-react';
import type { Group, Image } from '@ggnet/contracts';
import { TableHead } from '../../components/ui';

/** The groups: their settings (unset = default), rules, ring releases and machine counts. */
export function GroupsTable(props: {
  groups: Group[];
  images: Image[];
  canWrite: boolean;
  onEdit: (g: Group) => void;
  onDelete: (g: Group) => void;
  /** Wake-on-LAN of the group's enabled, approved machines. */
  onWake?: (g: Group) => void;
}) {
  const imageName = (id: string) => props.images.find((i) => i.id === id)?.name ?? id;
  const unset = (
    <Text span c="dimmed" size="sm">
      default
    </Text>
  );
  return (
    <Table.ScrollContainer minWidth={800}>
      <Table striped verticalSpacing={6} data-testid="groups-table">
        <TableHead
          columns={[
            'Name',
            'Machines',
            'Boot image',
            'Mode',
            'Auto-registration',
            'Ring releases',
            props.canWrite && { w: 110 },
          ]}
        />
        <Table.Tbody>
          {props.groups.map((g) => (
            <Table.Tr key={g.id} data-group={g.name}>
              <Table.Td>
                <Text size="sm" fw={500}>
                  {g.name}
                </Text>
                {g.description && (
                  <Text size="xs" c="dimmed">
                    {g.description}
                  </Text>
                )}
              </Table.Td>
              <Table.Td fz="sm">{g.machineCount}</Table.Td>
              <Table.Td fz="sm">
                {g.bootImageId ? imageName(g.bootImageId) : unset}
                {g.extraImageIds?.length ? (
                  <Text size="xs" c="dimmed">
                    + {g.extraImageIds.map(imageName).join(', ')}
                  </Text>
                ) : null}
              </Table.Td>
              <Table.Td fz="sm">{g.bootMode ?? unset}</Table.Td>
              <Table.Td fz="xs">
                {[...g.macPrefixes, ...g.ipRanges.map((r) => `${r.start}-${r.end}`)].join(', ') || '—'}
              </Table.Td>
              <Table.Td>
                {g.releases.map((r) => (
                  <Badge key={r.imageId} size="sm" color="orange" variant="light">
                    {imageName(r.imageId)}
                  </Badge>
                ))}
              </Table.Td>
              {props.canWrite && (
                <Table.Td>
                  <Row gap={4} wrap="nowrap">
                    {props.onWake && (
                      <Tooltip label="Wake its machines (Wake-on-LAN)">
                        <ActionIcon
                          variant="subtle"
                          color="green"
                          aria-label={`Wake ${g.name}`}
                          disabled={!g.machineCount}
                          onClick={() => props.onWake?.(g)}
                        >
                          <IconBolt size={16} />
                        </ActionIcon>
                      </Tooltip>
                    )}
                    <Tooltip label="Edit">
                      <ActionIcon
                        variant="subtle"
                        aria-label={`Edit ${g.name}`}
                        onClick={() => props.onEdit(g)}
                      >
                        <IconPencil size={16} />
                      </ActionIcon>
                    </Tooltip>
                    <Tooltip label="Delete">
                      <ActionIcon
                        variant="subtle"
                        color="red"
                        aria-label={`Delete ${g.name}`}
                        onClick={() => props.onDelete(g)}
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  </Row>
                </Table.Td>
              )}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
