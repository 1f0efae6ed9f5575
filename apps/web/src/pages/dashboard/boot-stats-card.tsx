import { Card, Group, Table, Text, Title } from '@mantine/core';
import type { BootPhase, BootStats } from '@ggnet/contracts';
import { useOptional } from '../../api/queries';
import { TimelineBar } from '../../components/boot-timeline';
import { keys } from '../../live/apply-event';
import { formatSeconds } from '../../lib/format';
import { useNow } from '../../lib/use-now';
import { TableHead } from '../../components/ui';

const PHASE_LABELS: Record<BootPhase, string> = {
  dhcp: 'DHCP',
  tftp: 'TFTP',
  script: 'Boot script',
  iscsi: 'iSCSI login',
  os: 'OS up',
};
const PHASES: BootPhase[] = ['dhcp', 'tftp', 'script', 'iscsi', 'os'];

/** Where boot time goes: the median of each phase, p50/p95, and the slowest machines (GET /boot/stats). */
export function BootStatsCard() {
  // the window moves in 10-minute steps so that the query key (and the cache) stays put in between
  const tenMinutes = Math.floor(useNow() / 600_000);
  const since = new Date(tenMinutes * 600_000 - 86_400_000).toISOString();
  const q = useOptional<BootStats>(keys.boot, '/boot/stats', { since, top: 5 });
  const s = q.data;
  if (!s || !s.completed) return null;
  let t = 0;
  const phases = PHASES.filter((k) => s.phasesP50Ms[k] !== null).map((k) => {
    const start = t;
    t += s.phasesP50Ms[k]!;
    return { key: k, label: PHASE_LABELS[k], startMs: start, endMs: t };
  });
  return (
    <Card withBorder padding="md" mb="md" data-testid="boot-stats">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Where boot time goes</Title>
        <Text size="sm" c="dimmed">
          p50 {formatSeconds(s.p50Ms === null ? null : s.p50Ms / 1000)} · p95{' '}
          {formatSeconds(s.p95Ms === null ? null : s.p95Ms / 1000)} · {s.completed}/{s.sessions} boots reached
          the OS
        </Text>
      </Group>
      <TimelineBar phases={phases} />
      {s.slowestMachines.length > 0 && (
        <Table fz="sm" verticalSpacing={2} mt="sm">
          <TableHead columns={['Slowest machines', 'Boots', 'Median', 'Slowest']} />
          <Table.Tbody>
            {s.slowestMachines.map((m) => (
              <Table.Tr key={m.machineId}>
                <Table.Td>{m.machineName ?? m.machineId}</Table.Td>
                <Table.Td>{m.boots}</Table.Td>
                <Table.Td>{formatSeconds(m.p50Ms === null ? null : m.p50Ms / 1000)}</Table.Td>
                <Table.Td>{formatSeconds(m.maxMs === null ? null : m.maxMs / 1000)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}
