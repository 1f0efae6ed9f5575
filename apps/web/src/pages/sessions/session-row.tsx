import { ActionIcon, Button, Group, Table, Text, Tooltip } from '@mantine/core';
import { IconChevronDown, IconChevronRight, IconGitMerge, IconPlayerStop } from '@tabler/icons-react';
import type { Session } from '@ggnet/contracts';
import { SessionTimeline } from '../../components/boot-timeline';
import { StatusBadge } from '../../components/ui';
import { TrafficTotals } from '../../components/traffic-totals';
import { formatDuration, formatRelative, formatSeconds, secondsBetween } from '../../lib/format';

/** One session, and below it, when open, its boot timeline and error. */
export function SessionRow(props: {
  session: Session;
  imageName: string | null;
  now: number;
  open: boolean;
  onToggle: () => void;
  canWrite: boolean;
  onApply: () => void;
  onStop: () => void;
}) {
  const { session: s, now, canWrite } = props;
  return (
    <>
      <Table.Tr data-session={s.machineName ?? s.machineId}>
        <Table.Td>
          <ActionIcon variant="subtle" size="sm" aria-label="Show boot timeline" onClick={props.onToggle}>
            {props.open ? <IconChevronDown size={14} /> : <IconChevronRight size={14} />}
          </ActionIcon>
        </Table.Td>
        <Table.Td fw={500} fz="sm">
          {s.machineName ?? s.machineId}
        </Table.Td>
        <Table.Td>
          <StatusBadge status={s.state} />
          {s.endReason && (
            <Text span size="xs" c="dimmed">
              {' '}
              {s.endReason}
            </Text>
          )}
        </Table.Td>
        <Table.Td fz="sm">{s.mode}</Table.Td>
        <Table.Td fz="sm">{s.imageId ? (props.imageName ?? '…') : '—'}</Table.Td>
        <Table.Td fz="sm">{s.clientIp ?? '—'}</Table.Td>
        <Table.Td fz="sm">{formatRelative(s.startedAt, now)}</Table.Td>
        <Table.Td fz="sm">
          {s.activeAt
            ? formatSeconds(secondsBetween(s.startedAt, s.activeAt))
            : s.state === 'ended'
              ? '—'
              : 'booting…'}
        </Table.Td>
        <Table.Td fz="sm">
          {s.state === 'ended'
            ? formatDuration(secondsBetween(s.startedAt, s.endedAt))
            : formatDuration(secondsBetween(s.activeAt ?? s.startedAt, now))}
        </Table.Td>
        <Table.Td fz="sm" data-testid="session-traffic">
          <TrafficTotals traffic={s.traffic} />
        </Table.Td>
        {canWrite && (
          <Table.Td>
            {s.state !== 'ended' && (
              <Group gap={4} wrap="nowrap" justify="flex-end">
                {s.mode === 'maintenance' && (
                  <Tooltip label="Turn this session's writes into a new image version">
                    <Button
                      size="compact-xs"
                      variant="light"
                      leftSection={<IconGitMerge size={12} />}
                      onClick={props.onApply}
                    >
                      Apply
                    </Button>
                  </Tooltip>
                )}
                <Button
                  size="compact-xs"
                  variant="light"
                  color="red"
                  leftSection={<IconPlayerStop size={12} />}
                  onClick={props.onStop}
                >
                  Stop
                </Button>
              </Group>
            )}
          </Table.Td>
        )}
      </Table.Tr>
      {props.open && (
        <Table.Tr>
          <Table.Td />
          <Table.Td colSpan={canWrite ? 10 : 9}>
            <SessionTimeline session={s} />
            {s.error && (
              <Text size="sm" c="red" mt={4}>
                {s.error}
              </Text>
            )}
          </Table.Td>
        </Table.Tr>
      )}
    </>
  );
}
