import { useState } from 'react';
import { ActionIcon, Alert, Button, Card, Group, Stack, Table, Text, Title, Tooltip } from '@mantine/core';
import { IconDownload, IconTrash } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import type { Backup, BackupStatus, Page } from '@ggnet/contracts';
import { api, auth } from '../../api/client';
import { errorFromResponse } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { QueryError, StatusBadge, TableSkeleton } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { formatBytes, formatDateTime, formatRelative } from '../../lib/format';
import { notifyOk } from '../../lib/notify';

/** Fetches a backup file with the login's token and hands it to the browser as a download. */
export async function downloadBackup(b: Backup, fetchFn: typeof fetch = fetch): Promise<void> {
  const token = await auth.accessToken();
  const res = await fetchFn(`/api/v1/backups/${b.id}/download`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (!res.ok) throw await errorFromResponse(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = b.file;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const TRIGGER: Record<Backup['trigger'], string> = {
  scheduled: 'daily',
  manual: 'by hand',
  cli: 'ggnet backup',
};

/**
 * The backups of this server (admin): when the daily one runs, the last success or failure, the
 * space used, the list with size and time, "Back up now", download and delete. Live through the
 * `backup.*` events; a running backup is polled until it ends.
 */
export function BackupsPanel() {
  const [error, setError] = useState<string | null>(null);
  const list = useQuery({
    queryKey: [...keys.backups, 'list'],
    queryFn: ({ signal }) => api<Page<Backup>>('/backups', { query: { limit: 20 }, signal }),
    refetchInterval: (q) =>
      q.state.data?.items.some((b) => b.state === 'queued' || b.state === 'running') ? 2000 : false,
  });
  const status = useQuery({
    queryKey: [...keys.backups, 'status'],
    queryFn: ({ signal }) => api<BackupStatus>('/backups/status', { signal }),
  });
  const create = useApiMutation<void, Backup>(() => ({ path: '/backups', method: 'POST' }), [keys.backups]);
  const remove = useApiMutation<string>(
    (id) => ({ path: `/backups/${id}`, method: 'DELETE' }),
    [keys.backups],
  );

  const s = status.data;
  return (
    <Card withBorder data-testid="backups-panel">
      <Stack>
        <Group justify="space-between">
          <div>
            <Title order={4}>Backups</Title>
            <Text size="sm" c="dimmed">
              Database, secrets, configuration and settings in one file (image files are not included).
            </Text>
          </div>
          <Button
            loading={create.isPending}
            onClick={() => create.mutate(undefined, { onSuccess: () => notifyOk('Backup started') })}
            data-testid="backup-now"
          >
            Back up now
          </Button>
        </Group>
        {s && (
          <Text size="sm" data-testid="backup-status">
            {s.daily
              ? `Daily at ${String(s.hour).padStart(2, '0')}:00, the last ${s.keep} kept`
              : 'Daily backup off'}
            {' · '}
            {s.lastSuccessAt ? `last success ${formatRelative(s.lastSuccessAt)}` : 'no backup yet'}
            {' · '}
            {formatBytes(s.totalBytes)} in {s.dir}
          </Text>
        )}
        {s?.lastFailure && (
          <Alert color="red" title={`The last backup failed ${formatRelative(s.lastFailure.at)}`}>
            {s.lastFailure.error}
          </Alert>
        )}
        {error && (
          <Alert color="red" withCloseButton onClose={() => setError(null)}>
            {error}
          </Alert>
        )}
        {list.isPending ? (
          <TableSkeleton rows={3} cols={5} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <Text size="sm" c="dimmed">
            No backups yet.
          </Text>
        ) : (
          <Table data-testid="backups-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Time</Table.Th>
                <Table.Th>Kind</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Size</Table.Th>
                <Table.Th>File</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.data.items.map((b) => (
                <Table.Tr key={b.id} data-backup={b.id}>
                  <Table.Td title={formatDateTime(b.createdAt)}>{formatRelative(b.createdAt)}</Table.Td>
                  <Table.Td>{TRIGGER[b.trigger]}</Table.Td>
                  <Table.Td>
                    <Tooltip label={b.error ?? ''} disabled={!b.error}>
                      <span>
                        <StatusBadge status={b.state} />
                      </span>
                    </Tooltip>
                  </Table.Td>
                  <Table.Td>{b.sizeBytes === null ? '—' : formatBytes(b.sizeBytes)}</Table.Td>
                  <Table.Td>
                    <Text
                      size="xs"
                      ff="monospace"
                      c={b.present ? undefined : 'dimmed'}
                      td={b.present ? undefined : 'line-through'}
                    >
                      {b.file}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Group gap={4} wrap="nowrap">
                      <ActionIcon
                        variant="subtle"
                        aria-label={`Download ${b.file}`}
                        disabled={b.state !== 'done' || !b.present || b.trigger === 'cli'}
                        onClick={() =>
                          downloadBackup(b).catch((e: unknown) => setError(String((e as Error).message ?? e)))
                        }
                      >
                        <IconDownload size={16} />
                      </ActionIcon>
                      <ActionIcon
                        variant="subtle"
                        color="red"
                        aria-label={`Delete ${b.file}`}
                        disabled={b.state === 'running' || b.state === 'queued'}
                        onClick={() => remove.mutate(b.id)}
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Stack>
    </Card>
  );
}
