import { Badge, Button, Card, Group, Table, Text, Title } from '@mantine/core';
import type { MaintenanceRequest } from '@ggnet/contracts';
import { useApiMutation, useMaintenanceAccess } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { keys } from '../../live/apply-event';
import { formatRelative } from '../../lib/format';
import { useNow } from '../../lib/use-now';

const VERBS = [
  { verb: 'approve', label: 'Approve', props: { color: 'orange' } },
  { verb: 'deny', label: 'Deny', props: { variant: 'default' } },
] as const;

/**
 * PCs that chose maintenance in their boot menu and wait for an operator (boot.maintenanceApproval).
 * Shown to operators only, and only while someone waits; the list follows the live `boot.*` events.
 */
export function MaintenanceRequestsCard() {
  const canDecide = useCan('operator');
  const q = useMaintenanceAccess(canDecide);
  const now = useNow();
  const decide = useApiMutation<{ id: string; verb: 'approve' | 'deny' }, MaintenanceRequest>(
    ({ id, verb }) => ({ path: `/boot/maintenance/requests/${id}/${verb}`, method: 'POST' }),
    [keys.boot],
  );
  const waiting = (q.data?.requests ?? []).filter((r) => r.state === 'pending');
  if (!canDecide || waiting.length === 0) return null;
  return (
    <Card withBorder padding="md" mb="md" data-testid="maintenance-requests">
      <Title order={5} mb="xs">
        Maintenance requested at a boot menu
      </Title>
      <Text size="sm" c="dimmed" mb="xs">
        Approve only a PC you know is in the right hands: its changes can become a new image version. Check
        the address.
      </Text>
      <Table fz="sm" verticalSpacing={4}>
        <Table.Tbody>
          {waiting.map((r) => (
            <Table.Tr key={r.id} data-testid={`maintenance-request-${r.id}`}>
              <Table.Td fw={600}>{r.machineName}</Table.Td>
              <Table.Td ff="monospace">{r.mac}</Table.Td>
              <Table.Td>
                <Badge variant="light" color="gray">
                  {r.ip}
                </Badge>
              </Table.Td>
              <Table.Td c="dimmed">{formatRelative(r.requestedAt, now)}</Table.Td>
              <Table.Td>
                <Group gap="xs" justify="flex-end">
                  {VERBS.map(({ verb, label, props }) => (
                    <Button
                      key={verb}
                      size="xs"
                      {...props}
                      loading={
                        decide.isPending && decide.variables?.id === r.id && decide.variables.verb === verb
                      }
                      onClick={() => decide.mutate({ id: r.id, verb })}
                    >
                      {label}
                    </Button>
                  ))}
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Card>
  );
}
