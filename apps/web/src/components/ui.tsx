import type { ReactNode } from 'react';
import { Alert, Badge, Button, Center, Group, Skeleton, Stack, Table, Text, Title } from '@mantine/core';
import { IconAlertTriangle, IconInbox } from '@tabler/icons-react';
import { describeError } from '../api/api-error';

export function PageHeader(props: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <Group justify="space-between" align="flex-end" mb="md" wrap="wrap" gap="sm">
      <div>
        <Title order={2}>{props.title}</Title>
        {props.description && (
          <Text c="dimmed" size="sm">
            {props.description}
          </Text>
        )}
      </div>
      {props.actions && <Group gap="xs">{props.actions}</Group>}
    </Group>
  );
}

export function EmptyState(props: {
  title: string;
  message?: ReactNode;
  icon?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <Center py="xl" data-testid="empty-state">
      <Stack align="center" gap={6} maw={460}>
        {props.icon ?? <IconInbox size={36} stroke={1.4} color="var(--mantine-color-dimmed)" />}
        <Text fw={600}>{props.title}</Text>
        {props.message && (
          <Text c="dimmed" size="sm" ta="center">
            {props.message}
          </Text>
        )}
        {props.action}
      </Stack>
    </Center>
  );
}

export function TableSkeleton({ rows = 6, cols = 5 }: { rows?: number; cols?: number }) {
  return (
    <Table data-testid="table-skeleton">
      <Table.Tbody>
        {Array.from({ length: rows }, (_, r) => (
          <Table.Tr key={r}>
            {Array.from({ length: cols }, (_, c) => (
              <Table.Td key={c}>
                <Skeleton height={14} radius="sm" />
              </Table.Td>
            ))}
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function QueryError({ error, retry }: { error: unknown; retry?: () => void }) {
  const d = describeError(error);
  return (
    <Alert color="red" icon={<IconAlertTriangle size={18} />} title={d.title} my="md">
      <Group justify="space-between">
        <Text size="sm">{d.message}</Text>
        {retry && (
          <Button size="xs" variant="light" color="red" onClick={retry}>
            Retry
          </Button>
        )}
      </Group>
    </Alert>
  );
}

const COLORS: Record<string, string> = {
  online: 'teal',
  active: 'teal',
  ready: 'teal',
  succeeded: 'teal',
  booting: 'blue',
  starting: 'blue',
  running: 'blue',
  converting: 'blue',
  uploading: 'blue',
  uploaded: 'cyan',
  queued: 'gray',
  pending: 'yellow',
  offline: 'gray',
  ended: 'gray',
  disabled: 'dark',
  cancelled: 'gray',
  deleting: 'orange',
  failed: 'red',
  dead: 'red',
  error: 'red',
};

export function StatusBadge({ status, size = 'sm' }: { status: string; size?: 'xs' | 'sm' | 'md' }) {
  return (
    <Badge color={COLORS[status] ?? 'gray'} variant="light" size={size} data-status={status}>
      {status}
    </Badge>
  );
}

/** A column of TableHead: its title, '' for an untitled one (row actions), or with a width. */
export type Column = string | { label?: string; w: number } | false | null | undefined;

/** The header row of a table; falsy columns are left out (e.g. actions a viewer does not get). */
export function TableHead({ columns }: { columns: Column[] }) {
  return (
    <Table.Thead>
      <Table.Tr>
        {columns.map((c, i) =>
          !c && c !== '' ? null : typeof c === 'string' ? (
            <Table.Th key={i}>{c || null}</Table.Th>
          ) : (
            <Table.Th key={i} w={c.w}>
              {c.label}
            </Table.Th>
          ),
        )}
      </Table.Tr>
    </Table.Thead>
  );
}
