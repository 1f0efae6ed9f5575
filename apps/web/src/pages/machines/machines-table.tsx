import { ActionIcon, Badge, Checkbox, Group, Table, Text, Tooltip, UnstyledButton } from '@mantine/core';
import { IconPower, IconUserCheck } from '@tabler/icons-react';
import type { Machine, Session, TrafficSnapshot } from '@ggnet/contracts';
import { StatusBadge } from '../../components/ui';
import { formatRelative } from '../../lib/format';
import { RowMenu } from './row-menu';
import { SortHeader } from './sort-header';
import { TrafficCell } from './traffic-cell';
import { Uptime } from './uptime';

/** The machines of one page: selectable and with row actions for operators, sortable by column. */
export function MachinesTable(props: {
  items: Machine[];
  canWrite: boolean;
  sort: string;
  onSort: (sort: string) => void;
  selected: Set<string>;
  onSelect: (ids: Set<string>) => void;
  imageName: Map<string, string>;
  groupName: Map<string, string>;
  sessionByMachine: Map<string, Session>;
  /** Live traffic by machine id (GET /traffic, kept current by traffic.sample events). */
  trafficByMachine?: Map<string, TrafficSnapshot['machines'][number]>;
  onOpen: (m: Machine) => void;
  onEdit: (m: Machine) => void;
  onPatch: (m: Machine, body: { pending: false } | { enabled: boolean }) => void;
  onDelete: (m: Machine) => void;
  onWake: (m: Machine) => void;
}) {
  const { items, canWrite, sort, selected } = props;
  const allSelected = items.length > 0 && items.every((m) => selected.has(m.id));
  const toggle = (id: string) => {
    const n = new Set(selected);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    props.onSelect(n);
  };
  const header = (field: string, label: string) => (
    <SortHeader field={field} label={label} sort={sort} onSort={props.onSort} />
  );
  return (
    <Table.ScrollContainer minWidth={1000}>
      <Table striped highlightOnHover verticalSpacing={6} data-testid="machines-table">
        <Table.Thead>
          <Table.Tr>
            {canWrite && (
              <Table.Th w={36}>
                <Checkbox
                  aria-label="Select all"
                  checked={allSelected}
                  indeterminate={!allSelected && items.some((m) => selected.has(m.id))}
                  onChange={() => props.onSelect(allSelected ? new Set() : new Set(items.map((m) => m.id)))}
                />
              </Table.Th>
            )}
            {header('name', 'Name')}
            {header('status', 'Status')}
            {header('mac', 'MAC')}
            {header('ip', 'IP')}
            <Table.Th>Group</Table.Th>
            <Table.Th>Image</Table.Th>
            {header('bootMode', 'Mode')}
            <Table.Th>Uptime</Table.Th>
            <Table.Th>Traffic</Table.Th>
            {header('lastSeenAt', 'Last seen')}
            {canWrite && <Table.Th w={40} />}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((m) => (
            <Table.Tr key={m.id} data-machine={m.name}>
              {canWrite && (
                <Table.Td>
                  <Checkbox
                    aria-label={`Select ${m.name}`}
                    checked={selected.has(m.id)}
                    onChange={() => toggle(m.id)}
                  />
                </Table.Td>
              )}
              <Table.Td>
                <UnstyledButton onClick={() => props.onOpen(m)} aria-label={`Details of ${m.name}`}>
                  <Text size="sm" fw={500} c="var(--mantine-primary-color-filled)">
                    {m.name}
                  </Text>
                </UnstyledButton>
                {m.tags.length > 0 && (
                  <Group gap={4}>
                    {m.tags.map((t) => (
                      <Badge key={t} size="xs" variant="outline">
                        {t}
                      </Badge>
                    ))}
                  </Group>
                )}
              </Table.Td>
              <Table.Td>
                <StatusBadge status={m.status} />
              </Table.Td>
              <Table.Td ff="monospace" fz="sm">
                {m.mac}
              </Table.Td>
              <Table.Td fz="sm">
                {m.ip ?? m.lastIp ?? (
                  <Text span c="dimmed">
                    —
                  </Text>
                )}
                {!m.ip && m.lastIp && (
                  <Text span size="xs" c="dimmed">
                    {' '}
                    (dhcp)
                  </Text>
                )}
              </Table.Td>
              <Table.Td fz="sm">
                {m.groupId ? (
                  (props.groupName.get(m.groupId) ?? '…')
                ) : (
                  <Text span c="dimmed">
                    —
                  </Text>
                )}
              </Table.Td>
              <Table.Td fz="sm" data-source={m.effective.bootImageId.source}>
                {m.effective.bootImageId.value ? (
                  (props.imageName.get(m.effective.bootImageId.value) ?? '…')
                ) : (
                  <Text span c="dimmed">
                    none
                  </Text>
                )}
                {m.effective.bootImageId.source !== 'machine' && m.effective.bootImageId.value && (
                  <Text span size="xs" c="dimmed">
                    {' '}
                    ({m.effective.bootImageId.source})
                  </Text>
                )}
                {m.effective.bootVersion.source === 'ring' && (
                  <Badge size="xs" color="orange" variant="light" ml={4}>
                    ring
                  </Badge>
                )}
              </Table.Td>
              <Table.Td fz="sm" data-source={m.effective.bootMode.source}>
                {m.effective.bootMode.value}
              </Table.Td>
              <Table.Td>
                <Uptime session={props.sessionByMachine.get(m.id)} />
              </Table.Td>
              <Table.Td>
                <TrafficCell
                  traffic={props.trafficByMachine?.get(m.id)?.traffic ?? m.traffic ?? undefined}
                  history={props.trafficByMachine?.get(m.id)?.history}
                />
              </Table.Td>
              <Table.Td fz="sm">{formatRelative(m.lastSeenAt)}</Table.Td>
              {canWrite && (
                <Table.Td>
                  <Group gap={4} wrap="nowrap">
                    {m.pending && (
                      <Tooltip label="Approve">
                        <ActionIcon
                          variant="light"
                          color="yellow"
                          aria-label={`Approve ${m.name}`}
                          onClick={() => props.onPatch(m, { pending: false })}
                        >
                          <IconUserCheck size={16} />
                        </ActionIcon>
                      </Tooltip>
                    )}
                    {m.status === 'offline' && (
                      <ActionIcon
                        variant="subtle"
                        aria-label={`Wake ${m.name}`}
                        title="Wake (Wake-on-LAN)"
                        onClick={() => props.onWake(m)}
                      >
                        <IconPower size={16} />
                      </ActionIcon>
                    )}
                    <RowMenu
                      machine={m}
                      onEdit={() => props.onEdit(m)}
                      onToggle={() => props.onPatch(m, { enabled: !m.enabled })}
                      onDelete={() => props.onDelete(m)}
                      onWake={() => props.onWake(m)}
                    />
                  </Group>
                </Table.Td>
              )}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
