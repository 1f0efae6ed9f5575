import { useState } from 'react';
import { Card, Group, Pagination } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useAudit } from '../../api/queries';
import { QueryTable } from '../../components/query-state';
import { PageHeader } from '../../components/ui';
import { AuditFilters, type AuditFilterValues } from './audit-filters';
import { AuditTable } from './audit-table';

const PAGE = 50;

export function AuditPage() {
  const [values, setValues] = useState<AuditFilterValues>({
    username: '',
    action: '',
    targetType: '',
    since: '',
  });
  const [page, setPage] = useState(1);
  const [filters] = useDebouncedValue(values, 300);
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
  return (
    <>
      <PageHeader title="Audit log" description="Every change made through the API, newest first." />
      <Card withBorder padding={0}>
        <AuditFilters
          values={values}
          total={list.data?.total}
          onChange={(patch) => {
            setValues((v) => ({ ...v, ...patch }));
            setPage(1);
          }}
        />
        <QueryTable
          query={list}
          cols={6}
          emptyTitle="No entries"
          emptyMessage="Nothing matches these filters."
        >
          {(data) => <AuditTable entries={data.items} />}
        </QueryTable>
        {list.data && list.data.total > PAGE && (
          <Group justify="center" p="sm">
            <Pagination total={Math.ceil(list.data.total / PAGE)} value={page} onChange={setPage} />
          </Group>
        )}
      </Card>
    </>
  );
}
