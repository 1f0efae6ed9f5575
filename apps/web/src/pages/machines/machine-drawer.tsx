import { Alert, Badge, Drawer, Group, Skeleton, Stack, Table, Text, Title } from '@mantine/core';
import type { BootEvent, Group as MachineGroup, Image, Machine, Page } from '@ggnet/contracts';
import { useOptional, useSessions } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { refusalLabel } from '../../lib/boot-refusal';
import { SessionTimeline } from '../../components/boot-timeline';
import { TrafficTotals } from '../../components/traffic-totals';
import { StatusBadge, TableHead } from '../../components/ui';
import {
  formatDateTime,
  formatDuration,
  formatRelative,
  formatSeconds,
  secondsBetween,
} from '../../lib/format';
import { serverNow } from '../../lib/server-clock';
import { EffectiveSettingsTable } from './effective-settings';
import { AgentPanel } from './agent-panel';

const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '?');

/** "2 min ago by admin (magic packet to 10.0.0.255:9)" */
function wakeLine(e: BootEvent): string {
  return `${formatRelative(e.at)} by ${str(e.detail.by)} (magic packet to ${str(e.detail.broadcast)}:${str(e.detail.port)})`;
}

/** Everything about one machine, for the admin fixing the PC that does not come up. */
export function MachineDrawer(props: {
  machine: Machine | null;
  images: Image[];
  groups: MachineGroup[];
  onClose: () => void;
}) {
  const m = props.machine;
  const sessions = useSessions({ machineId: m?.id, limit: 10, sort: '-startedAt' });
  // boot requests for this MAC that GGnet turned down (another PC, a wrong address)
  const refused = useOptional<Page<BootEvent>>(
    keys.boot,
    '/boot/events',
    { mac: m?.mac ?? '', kind: 'refused', limit: 5 },
    { enabled: !!m },
  );
  // the last Wake-on-LAN packet sent to it (by a user or a schedule)
  const woken = useOptional<Page<BootEvent>>(
    keys.boot,
    '/boot/events',
    { machineId: m?.id ?? '', kind: 'wake_sent', limit: 1 },
    { enabled: !!m },
  );
  const lastWake = woken.data?.items.find((e) => e.kind === 'wake_sent');
  const groupName = m?.groupId ? (props.groups.find((g) => g.id === m.groupId)?.name ?? '…') : null;
  const items = m ? (sessions.data?.items ?? []) : [];
  const current = items.find((s) => s.state !== 'ended');
  const lastFailure = items.find((s) => s.error);
  return (
    <Drawer
      opened={!!m}
      onClose={props.onClose}
      position="right"
      size="xl"
      title={m?.name}
      data-testid="machine-drawer"
    >
      {m && (
        <Stack>
          <Group gap="xs">
            <StatusBadge status={m.status} />
            <Badge variant="outline">{m.effective.bootMode.value}</Badge>
            {m.effective.keepWriteback.value && <Badge variant="outline">keeps writes</Badge>}
            {groupName && (
              <Badge variant="light" color="grape">
                {groupName}
              </Badge>
            )}
            {m.tags.map((t) => (
              <Badge key={t} variant="light" size="sm">
                {t}
              </Badge>
            ))}
          </Group>
          {m.description && <Text size="sm">{m.description}</Text>}
          <Table variant="vertical" layout="fixed" fz="sm" withTableBorder>
            <Table.Tbody>
              <Table.Tr>
                <Table.Th w={160}>MAC</Table.Th>
                <Table.Td ff="monospace">{m.mac}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>IP</Table.Th>
                <Table.Td>{m.ip ? `${m.ip} (fixed)` : m.lastIp ? `${m.lastIp} (last seen)` : '—'}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Group</Table.Th>
                <Table.Td>{groupName ?? 'none'}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Last wake</Table.Th>
                <Table.Td data-testid="last-wake">{lastWake ? wakeLine(lastWake) : 'never'}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Initiator IQN</Table.Th>
                <Table.Td ff="monospace" style={{ wordBreak: 'break-all' }}>
                  {m.initiatorIqn}
                </Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Last seen</Table.Th>
                <Table.Td>
                  {m.lastSeenAt
                    ? `${formatRelative(m.lastSeenAt)} (${formatDateTime(m.lastSeenAt)})`
                    : 'never booted'}
                </Table.Td>
              </Table.Tr>
            </Table.Tbody>
          </Table>
          <Title order={5}>Boots with</Title>
          <EffectiveSettingsTable machine={m} images={props.images} groups={props.groups} />
          {!m.enabled && (
            <Alert color="gray">This machine is disabled: its boot requests get the error screen.</Alert>
          )}
          {m.pending && (
            <Alert color="yellow">Waiting for approval: it boots once an operator approves it.</Alert>
          )}
          {lastFailure && lastFailure.id === items[0]?.id && (
            <Alert color="red" title="The last boot failed">
              {lastFailure.error}
            </Alert>
          )}
          {m && !!refused.data?.items.length && (
            <Alert color="red" title="Boot requests refused" data-testid="machine-refusals">
              <Stack gap={2}>
                {refused.data.items.map((e) => (
                  <Text size="sm" key={e.id}>
                    {formatRelative(e.at)}: {typeof e.detail.ip === 'string' ? e.detail.ip : '?'} —{' '}
                    {refusalLabel(typeof e.detail.reason === 'string' ? e.detail.reason : '')}
                  </Text>
                ))}
              </Stack>
            </Alert>
          )}
          <AgentPanel machine={m} />
          {current && (
            <>
              <Title order={5}>Current boot</Title>
              <SessionTimeline session={current} />
            </>
          )}
          <Title order={5}>Recent sessions</Title>
          {sessions.isPending ? (
            <Skeleton h={80} />
          ) : items.length === 0 ? (
            <Text size="sm" c="dimmed">
              No boots recorded yet.
            </Text>
          ) : (
            <Table fz="sm" verticalSpacing={4} data-testid="machine-sessions">
              <TableHead columns={['Started', 'State', 'Boot time', 'Duration', 'Traffic']} />
              <Table.Tbody>
                {items.map((s) => (
                  <Table.Tr key={s.id}>
                    <Table.Td>{formatRelative(s.startedAt)}</Table.Td>
                    <Table.Td>
                      <StatusBadge status={s.state} size="xs" /> {s.endReason ?? ''}{' '}
                      {s.mode === 'maintenance' ? '(maintenance)' : ''}
                    </Table.Td>
                    <Table.Td>
                      {s.activeAt ? formatSeconds(secondsBetween(s.startedAt, s.activeAt)) : '—'}
                    </Table.Td>
                    <Table.Td>
                      {formatDuration(secondsBetween(s.startedAt, s.endedAt ?? serverNow()))}
                    </Table.Td>
                    <Table.Td>
                      <TrafficTotals traffic={s.traffic} />
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Stack>
      )}
    </Drawer>
  );
}
