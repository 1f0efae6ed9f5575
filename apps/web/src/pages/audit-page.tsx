import { useState } from 'react';
import { Badge, Card, Group, Pagination, Table, Text, TextInput, Tooltip } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { IconSearch } from '@tabler/icons-react';
import { useAudit } from '../api/queries';
import { EmptyState, PageHeader, QueryError, TableSkeleton } from '../components/ui';
import { formatDateTime, formatRelative } from '../lib/format';

const PAGE = 50;

export function AuditPage() {
  const [username, setUsername] = useState('');
  const [action, setAction] = useState('');
  const [targetType, setTargetType] = useState('');
  const [since, setSince] = useState('');
  const [page, setPage] = useState(1);
  const [filters] = useDebouncedValue({ username, action, targetType, since }, 300);
  const sinceIso =
    filters.since && !Number.isNaN(Date.parse(filters.since))
      ? new Date(filters.since).toISOString()
      : undefined;
  const list = useAudit({
    username: filters.username.trim().toLowerCase() || undefined,
    action: filters.action.trim() || undefined,
    targetType: filters.targetType.trim() || undefined,
    since: sinceIso,
    limit: PAGE,
    offset: (page - 1) * PAGE,
  });
  const onFilter = (fn: (v: string) => void) => (e: React.ChangeEvent<HTMLInputElement>) => {
    fn(e.currentTarget.value);
    setPage(1);
  };
  return (
    <>
      <PageHeader title="Audit log" description="Every change made through the API, newest first." />
      <Card withBorder padding={0}>
        <Group p="sm" gap="sm">
          <TextInput
            placeholder="User"
            leftSection={<IconSearch size={14} />}
            value={username}
            onChange={onFilter(setUsername)}
            w={160}
            aria-label="Filter by user"
          />
          <TextInput
            placeholder="Action, e.g. machine.create"
            value={action}
            onChange={onFilter(setAction)}
            w={220}
            aria-label="Filter by action"
          />
          <TextInput
            placeholder="Target type, e.g. image"
            value={targetType}
            onChange={onFilter(setTargetType)}
            w={180}
            aria-label="Filter by target type"
          />
          <TextInput
            type="datetime-local"
            value={since}
            onChange={onFilter(setSince)}
            w={210}
            aria-label="Since"
          />
          <Text size="sm" c="dimmed" ml="auto">
            {list.data ? `${list.data.total} entries` : ''}
          </Text>
        </Group>
        {list.isPending ? (
          <TableSkeleton cols={6} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <EmptyState title="No entries" message="Nothing matches these filters." />
        ) : (
          <Table.ScrollContainer minWidth={860}>
            <Table striped verticalSpacing={4} fz="sm" data-testid="audit-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>When</Table.Th>
                  <Table.Th>User</Table.Th>
                  <Table.Th>Action</Table.Th>
                  <Table.Th>Target</Table.Th>
                  <Table.Th>Result</Table.Th>
                  <Table.Th>From</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.items.map((a) => (
                  <Table.Tr key={a.id}>
                    <Table.Td>
                      <Tooltip label={formatDateTime(a.at)}>
                        <span>{formatRelative(a.at)}</span>
                      </Tooltip>
                    </Table.Td>
                    <Table.Td>{a.username ?? '—'}</Table.Td>
                    <Table.Td>
                      <Text size="sm" ff="monospace">
                        {a.action}
                      </Text>
                      <Text size="xs" c="dimmed">
                        {a.method} {a.path}
                      </Text>
                    </Table.Td>
                    <Table.Td>{a.targetType ? `${a.targetType} ${a.targetId ?? ''}` : '—'}</Table.Td>
                    <Table.Td>
                      <Badge color={a.statusCode < 400 ? 'teal' : 'red'} variant="light" size="sm">
                        {a.statusCode}
                      </Badge>
                    </Table.Td>
                    <Table.Td>{a.ip ?? '—'}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
        {list.data && list.data.total > PAGE && (
          <Group justify="center" p="sm">
            <Pagination total={Math.ceil(list.data.total / PAGE)} value={page} onChange={setPage} />
          </Group>
        )}
      </Card>
    </>
  );
}
