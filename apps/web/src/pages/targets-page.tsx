import { useMemo, useState } from 'react';
import { ActionIcon, Badge, Card, Code, CopyButton, Group, Stack, Table, Text, Tooltip } from '@mantine/core';
import { IconCheck, IconCopy, IconEye, IconEyeOff } from '@tabler/icons-react';
import type { Target } from '@ggnet/contracts';
import { api } from '../api/client';
import { useImages, useMachines, useTargets } from '../api/queries';
import { useCan } from '../api/use-auth';
import { EmptyState, PageHeader, QueryError, StatusBadge, TableSkeleton } from '../components/ui';
import { formatBytes } from '../lib/format';
import { notifyError } from '../lib/notify';

/** CHAP secret: hidden; an admin can reveal it (GET /targets/{id}?reveal=true) and copy it. */
function ChapSecret({ target }: { target: Target }) {
  const isAdmin = useCan('admin');
  const [secret, setSecret] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!target.chapUser)
    return (
      <Text size="sm" c="dimmed">
        no CHAP
      </Text>
    );
  return (
    <Stack gap={2}>
      <Text size="sm" ff="monospace">
        {target.chapUser}
      </Text>
      <Group gap={4} wrap="nowrap">
        <Code data-testid="chap-secret">{secret ?? '••••••••••••'}</Code>
        {isAdmin && (
          <Tooltip label={secret ? 'Hide' : 'Reveal the secret (admins only)'}>
            <ActionIcon
              variant="subtle"
              size="sm"
              loading={busy}
              aria-label={secret ? 'Hide secret' : 'Reveal secret'}
              onClick={async () => {
                if (secret) return setSecret(null);
                setBusy(true);
                try {
                  const t = await api<Target>(`/targets/${target.id}`, { query: { reveal: 'true' } });
                  setSecret(t.chapSecret ?? '(none)');
                } catch (e) {
                  notifyError(e);
                } finally {
                  setBusy(false);
                }
              }}
            >
              {secret ? <IconEyeOff size={14} /> : <IconEye size={14} />}
            </ActionIcon>
          </Tooltip>
        )}
        {secret && (
          <CopyButton value={secret}>
            {({ copied, copy }) => (
              <ActionIcon variant="subtle" size="sm" onClick={copy} aria-label="Copy secret">
                {copied ? <IconCheck size={14} /> : <IconCopy size={14} />}
              </ActionIcon>
            )}
          </CopyButton>
        )}
      </Group>
    </Stack>
  );
}

export function TargetsPage() {
  const list = useTargets({ limit: 500 });
  const images = useImages();
  const machines = useMachines({ limit: 500 });
  const imageName = useMemo(
    () => new Map((images.data?.items ?? []).map((i) => [i.id, i.name])),
    [images.data],
  );
  const machineName = useMemo(
    () => new Map((machines.data?.items ?? []).map((m) => [m.id, m.name])),
    [machines.data],
  );
  return (
    <>
      <PageHeader
        title="iSCSI targets"
        description="The disks GGnet serves right now: one target per booted machine."
      />
      <Card withBorder padding={0}>
        {list.isPending ? (
          <TableSkeleton cols={6} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <EmptyState
            title="No targets"
            message="A target is created when a machine boots and removed when its session ends."
          />
        ) : (
          <Table.ScrollContainer minWidth={980}>
            <Table verticalSpacing={8} data-testid="targets-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Target</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th>LUNs</Table.Th>
                  <Table.Th>ACL</Table.Th>
                  <Table.Th>CHAP</Table.Th>
                  <Table.Th>Connected</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.items.map((t) => (
                  <Table.Tr key={t.id}>
                    <Table.Td>
                      <Text size="sm" ff="monospace">
                        {t.iqn}
                      </Text>
                      <Text size="xs" c="dimmed">
                        {t.machineId ? (machineName.get(t.machineId) ?? t.machineId) : 'manual'} · {t.backend}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <StatusBadge status={t.state} />
                      {t.error && (
                        <Text size="xs" c="red">
                          {t.error}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <Stack gap={2}>
                        {t.luns.map((l) => (
                          <Text size="xs" key={l.lun}>
                            LUN {l.lun} · {l.kind} · {l.imageId ? (imageName.get(l.imageId) ?? 'image') : '—'}{' '}
                            · {formatBytes(l.sizeBytes)}
                          </Text>
                        ))}
                      </Stack>
                    </Table.Td>
                    <Table.Td>
                      <Text size="xs" ff="monospace">
                        {t.initiatorIqn}
                      </Text>
                      <Text size="xs" c="dimmed">
                        {t.allowedAddress ? `from ${t.allowedAddress}` : 'any address'}
                        {t.mutualChap ? ' · mutual CHAP' : ''}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <ChapSecret target={t} />
                    </Table.Td>
                    <Table.Td>
                      {t.connections.length === 0 ? (
                        <Text size="sm" c="dimmed">
                          none
                        </Text>
                      ) : (
                        t.connections.map((c) => (
                          <Badge
                            key={`${c.initiator}-${c.address}`}
                            variant="light"
                            color="teal"
                            size="sm"
                            title={c.initiator}
                          >
                            {c.address}
                          </Badge>
                        ))
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Card>
    </>
  );
}
