import { Group, Text } from '@mantine/core';
import type { DhcpStatus } from '@ggnet/contracts';
import { useOptional } from '../../api/queries';
import { StatusBadge } from '../../components/ui';
import { keys } from '../../live/apply-event';

/** dnsmasq's state (DHCP and TFTP), the boot script URL, and what keeps it from running. */
export function DhcpStatusLine() {
  const q = useOptional<DhcpStatus>([...keys.dhcp, 'status'], '/dhcp/status');
  if (!q.data) return null;
  const d = q.data;
  return (
    <Group gap="xs" mt="xs" data-testid="dhcp-status">
      <StatusBadge
        status={d.daemon === 'running' ? 'online' : d.daemon === 'failed' ? 'failed' : 'offline'}
      />
      <Text size="sm">
        dnsmasq {d.daemon}
        {d.tftp ? ' · TFTP on' : ''}
        {d.scriptUrl ? ` · boot script ${d.scriptUrl}` : ''}
      </Text>
      {d.problem && (
        <Text size="sm" c="red">
          {d.problem}
        </Text>
      )}
    </Group>
  );
}
