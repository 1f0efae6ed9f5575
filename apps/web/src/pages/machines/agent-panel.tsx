import { useState } from 'react';
import { Alert, Badge, Button, Group, Stack, Table, Text, Textarea, Title } from '@mantine/core';
import type { AgentCommand, AgentCommandCreate, Machine } from '@ggnet/contracts';
import { useApiMutation, useOptional } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { keys } from '../../live/apply-event';
import { formatBytes, formatDuration, formatRelative } from '../../lib/format';

const STATE_LABEL = { not_installed: 'not installed', online: 'online', offline: 'offline' } as const;
const STATE_COLOR = { not_installed: 'gray', online: 'green', offline: 'orange' } as const;

/**
 * The machine's client agent (issue 14 point 4): its state and what it reported, and the commands
 * an operator sends it (shut down, reboot, message). Without an online agent the buttons are off
 * and say why; the server refuses such a command anyway (409 agent_offline).
 */
export function AgentPanel({ machine }: { machine: Machine }) {
  const canWrite = useCan('operator');
  const agent = machine.agent ?? null;
  const state = agent?.state ?? 'not_installed';
  const facts = agent?.facts ?? null;
  const commands = useOptional<{ items: AgentCommand[] }>(
    [...keys.machines, 'agent-commands', machine.id],
    `/machines/${machine.id}/agent/commands`,
  );
  const send = useApiMutation<AgentCommandCreate, AgentCommand>(
    (body) => ({ path: `/machines/${machine.id}/agent/commands`, method: 'POST', body }),
    [keys.machines],
  );
  const [confirm, setConfirm] = useState<'shutdown' | 'reboot' | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const online = state === 'online';
  const why = online
    ? undefined
    : state === 'offline'
      ? 'the agent is offline'
      : 'no agent: install the GGnet agent into the image';
  const rows: Array<[string, string]> = facts
    ? [
        ['Hostname', facts.hostname ?? '—'],
        ['OS', facts.osVersion ?? '—'],
        ['Users', facts.users.length ? facts.users.join(', ') : 'nobody logged in'],
        ['Uptime', facts.uptimeSec === null ? '—' : formatDuration(facts.uptimeSec)],
        [
          'CPU',
          [
            facts.cpuModel,
            facts.cpuCount ? `${facts.cpuCount} CPUs` : null,
            facts.load1 !== null ? `load ${facts.load1}` : null,
          ]
            .filter(Boolean)
            .join(', ') || '—',
        ],
        [
          'RAM',
          facts.memTotalBytes === null
            ? '—'
            : `${formatBytes(facts.memAvailableBytes)} free of ${formatBytes(facts.memTotalBytes)}`,
        ],
      ]
    : [];
  return (
    <Stack gap="xs" data-testid="agent-panel">
      <Group gap="xs">
        <Title order={5}>Agent</Title>
        <Badge color={STATE_COLOR[state]} variant="light" data-testid="agent-state">
          {STATE_LABEL[state]}
        </Badge>
        {agent?.lastSeenAt && (
          <Text size="sm" c="dimmed">
            last seen {formatRelative(agent.lastSeenAt)}
          </Text>
        )}
      </Group>
      {state === 'not_installed' && (
        <Text size="sm" c="dimmed">
          No GGnet agent has reported from this machine. Install it into the image in maintenance mode: curl
          -fsS http://&lt;GGnet&gt;/boot/agent/install.sh | sh
        </Text>
      )}
      {rows.length > 0 && (
        <Table variant="vertical" layout="fixed" fz="sm" withTableBorder data-testid="agent-facts">
          <Table.Tbody>
            {rows.map(([k, v]) => (
              <Table.Tr key={k}>
                <Table.Th w={160}>{k}</Table.Th>
                <Table.Td>{v}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {canWrite && (
        <Group gap="xs">
          {confirm ? (
            <>
              <Text size="sm">
                {confirm === 'shutdown' ? 'Shut down' : 'Reboot'} {machine.name}?
              </Text>
              <Button
                size="xs"
                color="red"
                loading={send.isPending}
                onClick={() => send.mutate({ type: confirm }, { onSettled: () => setConfirm(null) })}
              >
                Yes, {confirm === 'shutdown' ? 'shut down' : 'reboot'}
              </Button>
              <Button size="xs" variant="default" onClick={() => setConfirm(null)}>
                Cancel
              </Button>
            </>
          ) : (
            <>
              <Button
                size="xs"
                variant="light"
                color="red"
                disabled={!online}
                title={why}
                onClick={() => setConfirm('shutdown')}
              >
                Shut down
              </Button>
              <Button
                size="xs"
                variant="light"
                disabled={!online}
                title={why}
                onClick={() => setConfirm('reboot')}
              >
                Reboot
              </Button>
              <Button size="xs" variant="light" disabled={!online} title={why} onClick={() => setMessage('')}>
                Message
              </Button>
            </>
          )}
        </Group>
      )}
      {canWrite && message !== null && (
        <Stack gap={4}>
          <Textarea
            label="Message shown on the PC"
            value={message}
            maxLength={500}
            autosize
            minRows={2}
            onChange={(e) => setMessage(e.currentTarget.value)}
          />
          <Group gap="xs">
            <Button
              size="xs"
              disabled={!message.trim()}
              loading={send.isPending}
              onClick={() =>
                send.mutate({ type: 'message', text: message }, { onSuccess: () => setMessage(null) })
              }
            >
              Send message
            </Button>
            <Button size="xs" variant="default" onClick={() => setMessage(null)}>
              Cancel
            </Button>
          </Group>
        </Stack>
      )}
      {send.isError && (
        <Alert color="red" data-testid="agent-error">
          {send.error.message}
        </Alert>
      )}
      {!!commands.data?.items.length && (
        <Table fz="sm" verticalSpacing={2} data-testid="agent-commands">
          <Table.Tbody>
            {commands.data.items.slice(0, 5).map((c) => (
              <Table.Tr key={c.id}>
                <Table.Td>{formatRelative(c.createdAt)}</Table.Td>
                <Table.Td>
                  {c.type}
                  {c.text ? `: ${c.text}` : ''}
                </Table.Td>
                <Table.Td>
                  {c.state}
                  {c.result ? ` (${c.result})` : ''}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
