import { Alert, Group, Text } from '@mantine/core';
import type { IscsiStatus } from '@ggnet/contracts';
import { useOptional } from '../api/queries';
import { keys } from '../live/apply-event';
import { StatusBadge } from './ui';

const BADGE: Record<string, string> = { running: 'online', failed: 'failed', conflict: 'failed' };

/** GET /api/v1/iscsi, shared by the dashboard and the targets page (one query key). */
export function useIscsiStatus() {
  return useOptional<IscsiStatus>([...keys.iscsi, 'status'], '/iscsi');
}

/**
 * The disk service's daemons: a line per tgtd (state, portal port, targets, connections), and a red
 * alert naming what keeps one from serving (a tgtd that is not GGnet's own on its control port).
 */
export function IscsiDaemons({ alertOnly = false }: { alertOnly?: boolean }) {
  const q = useIscsiStatus();
  if (!q.data) return null;
  const s = q.data;
  const problems = s.daemons.filter((d) => d.conflict || d.state === 'failed');
  return (
    <div data-testid="iscsi-daemons">
      {problems.map((d) => (
        <Alert
          key={d.index}
          color="red"
          title={`Disk service: tgtd on control port ${d.controlPort} is not serving`}
          mb="md"
        >
          {d.conflict ?? `GGnet's tgtd ${d.state}; see the server log and \`ggnet doctor\`.`}
          {d.conflict ? ' Boot scripts for its machines say the disk service is unavailable.' : ''}
        </Alert>
      ))}
      {!alertOnly &&
        s.daemons.map((d) => (
          <Group key={d.index} gap="xs" mb={4} data-testid="iscsi-daemon">
            <StatusBadge status={BADGE[d.state] ?? 'offline'} />
            <Text size="sm">
              tgtd {d.index + 1}/{s.daemons.length} {d.state} · portal port {d.portalPort} · control port{' '}
              {d.controlPort} · {d.targets} target(s), {d.connections} connection(s)
              {d.pid ? ` · pid ${d.pid}` : ''}
            </Text>
          </Group>
        ))}
    </div>
  );
}
