import { ActionIcon, Badge, Group, Switch, Table, Text } from '@mantine/core';
import { IconPencil, IconTrash } from '@tabler/icons-react';
import type { Schedule, ScheduleRun } from '@ggnet/contracts';
import { TableHead } from '../../components/ui';
import { formatDateTime } from '../../lib/format';
import { DAY_LABEL } from './schedule-form';

function lastRun(r: ScheduleRun | null): string {
  if (!r) return 'never';
  if (r.outcome === 'missed') return `missed ${formatDateTime(r.slot)} (GGnet was down)`;
  if (r.error) return `failed ${formatDateTime(r.at)}: ${r.error}`;
  const late = r.lateSec > 60 ? `, ${Math.round(r.lateSec / 60)} min late` : '';
  const what = r.noAgent ? `${r.noAgent} without agent` : `${r.machines} woken`;
  return `${formatDateTime(r.at)}: ${what}${late}`;
}

/** The schedules, with their next slot and what the last one did; operators switch, edit and delete. */
export function SchedulesTable(props: {
  items: Schedule[];
  canWrite: boolean;
  machineName: Map<string, string>;
  groupName?: Map<string, string>;
  onToggle: (s: Schedule) => void;
  onEdit: (s: Schedule) => void;
  onDelete: (s: Schedule) => void;
}) {
  return (
    <Table data-testid="schedules-table" verticalSpacing="xs">
      <TableHead columns={['Name', 'Action', 'When', 'Machines', 'Next', 'Last run', props.canWrite && '']} />
      <Table.Tbody>
        {props.items.map((s) => (
          <Table.Tr key={s.id} data-schedule={s.name}>
            <Table.Td>
              <Group gap="xs" wrap="nowrap">
                {props.canWrite && (
                  <Switch
                    size="xs"
                    aria-label={`Enable ${s.name}`}
                    checked={s.enabled}
                    onChange={() => props.onToggle(s)}
                  />
                )}
                <Text size="sm" fw={500}>
                  {s.name}
                </Text>
              </Group>
            </Table.Td>
            <Table.Td>
              <Badge variant="light" color={s.action === 'wake' ? 'green' : 'orange'}>
                {s.action}
              </Badge>
            </Table.Td>
            <Table.Td fz="sm">
              {s.days.map((d) => DAY_LABEL[d]).join(' ')} at {s.times.join(', ')}
            </Table.Td>
            <Table.Td fz="sm">
              {'all' in s.target
                ? 'all'
                : 'groupId' in s.target
                  ? `group ${props.groupName?.get(s.target.groupId) ?? '…'}`
                  : s.target.machineIds.map((id) => props.machineName.get(id) ?? '…').join(', ')}
            </Table.Td>
            <Table.Td fz="sm">{s.enabled ? formatDateTime(s.nextAt) : 'off'}</Table.Td>
            <Table.Td fz="xs">{lastRun(s.lastRun)}</Table.Td>
            {props.canWrite && (
              <Table.Td>
                <Group gap={4} wrap="nowrap">
                  <ActionIcon variant="subtle" aria-label={`Edit ${s.name}`} onClick={() => props.onEdit(s)}>
                    <IconPencil size={16} />
                  </ActionIcon>
                  <ActionIcon
                    variant="subtle"
                    color="red"
                    aria-label={`Delete ${s.name}`}
                    onClick={() => props.onDelete(s)}
                  >
                    <IconTrash size={16} />
                  </ActionIcon>
                </Group>
              </Table.Td>
            )}
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
