import { Badge, Table, Text, Tooltip } from '@mantine/core';
import type { AuditEntry } from '@ggnet/contracts';
import { formatDateTime, formatRelative } from '../../lib/format';
import { TableHead } from '../../components/ui';

/** Audit entries: when, who, what (action and request), on what, the answer's status, from where. */
export function AuditTable({ entries }: { entries: AuditEntry[] }) {
  return (
    <Table.ScrollContainer minWidth={860}>
      <Table striped verticalSpacing={4} fz="sm" data-testid="audit-table">
        <TableHead columns={['When', 'User', 'Action', 'Target', 'Result', 'From']} />
        <Table.Tbody>
          {entries.map((a) => (
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
  );
}
