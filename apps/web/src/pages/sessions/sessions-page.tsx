import { useMemo, useState } from 'react';
import { Card, Group as Row, SegmentedControl, Select, Table } from '@mantine/core';
import { useNavigate, useSearch } from '@tanstack/react-router';
import type { Session } from '@ggnet/contracts';
import { useApiMutation, useGroups, useImages, useSessions } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { ConfirmDialog } from '../../components/confirm';
import { QueryTable } from '../../components/query-state';
import { PageHeader, TableHead } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { useNow } from '../../lib/use-now';
import { ApplyModal } from './apply-modal';
import { SessionRow } from './session-row';
import type { SessionsSearch } from './sessions-search';

export function SessionsPage() {
  const search: SessionsSearch = useSearch({ strict: false });
  const navigate = useNavigate();
  const showAll = !!search.all;
  const canWrite = useCan('operator');
  const now = useNow();
  const list = useSessions({
    ...(showAll ? { limit: 200, sort: '-startedAt' } : { live: 'true', limit: 500, sort: '-startedAt' }),
    groupId: search.groupId,
  });
  const groups = useGroups();
  const images = useImages();
  const imageName = useMemo(
    () => new Map((images.data?.items ?? []).map((i) => [i.id, i.name])),
    [images.data],
  );
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [stopping, setStopping] = useState<Session | null>(null);
  const [applying, setApplying] = useState<Session | null>(null);
  const stop = useApiMutation<string>(
    (id) => ({ path: `/sessions/${id}/stop`, method: 'POST' }),
    [keys.sessions, keys.machines],
  );
  const toggle = (id: string) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  return (
    <>
      <PageHeader
        title="Sessions"
        description="One session per boot: the machine's own copy-on-write disk and its iSCSI target."
        actions={
          <Row gap="sm">
            <Select
              placeholder="Any group"
              clearable
              w={170}
              aria-label="Group filter"
              data={[
                { value: 'none', label: '(no group)' },
                ...(groups.data?.items ?? []).map((g) => ({ value: g.id, label: g.name })),
              ]}
              value={search.groupId ?? null}
              onChange={(v) =>
                void navigate({ to: '/sessions', search: { ...search, groupId: v ?? undefined } })
              }
            />
            <SegmentedControl
              value={showAll ? 'all' : 'live'}
              onChange={(v) =>
                void navigate({
                  to: '/sessions',
                  search: v === 'all' ? { all: true, groupId: search.groupId } : { groupId: search.groupId },
                })
              }
              data={[
                { value: 'live', label: 'Live' },
                { value: 'all', label: 'Recent' },
              ]}
            />
          </Row>
        }
      />
      <Card withBorder padding={0}>
        <QueryTable
          query={list}
          cols={7}
          emptyTitle={showAll ? 'No sessions yet' : 'No machine is booted right now'}
          emptyMessage="A session starts when a machine asks GGnet for its boot script; it appears here at once."
        >
          {(data) => (
            <Table.ScrollContainer minWidth={860}>
              <Table verticalSpacing={6} data-testid="sessions-table">
                <TableHead
                  columns={[
                    { w: 30 },
                    'Machine',
                    'State',
                    'Mode',
                    'Image',
                    'Client IP',
                    'Started',
                    'Boot time',
                    'Up for',
                    'Traffic',
                    canWrite && '',
                  ]}
                />
                <Table.Tbody>
                  {data.items.map((s) => (
                    <SessionRow
                      key={s.id}
                      session={s}
                      imageName={s.imageId ? (imageName.get(s.imageId) ?? null) : null}
                      now={now}
                      open={open.has(s.id)}
                      onToggle={() => toggle(s.id)}
                      canWrite={canWrite}
                      onApply={() => setApplying(s)}
                      onStop={() => setStopping(s)}
                    />
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
        </QueryTable>
      </Card>
      <ConfirmDialog
        opened={!!stopping}
        title="Stop session"
        message={`Stop the session of ${stopping?.machineName}? Its iSCSI disk goes away: a running PC loses its disk.`}
        confirmLabel="Stop session"
        onClose={() => setStopping(null)}
        onConfirm={() => stop.mutateAsync(stopping!.id)}
      />
      <ApplyModal session={applying} onClose={() => setApplying(null)} />
    </>
  );
}
