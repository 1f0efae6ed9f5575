import { useMemo, useState } from 'react';
import { Button, Card, Group, Pagination } from '@mantine/core';
import { IconDeviceDesktopPlus, IconFileImport } from '@tabler/icons-react';
import { useNavigate, useSearch } from '@tanstack/react-router';
import type { Machine, MachineBulk, MachineBulkResult, MachineUpdate } from '@ggnet/contracts';
import {
  useApiMutation,
  useGroups,
  useImages,
  useLiveSessions,
  useMachineCount,
  useMachines,
  useMedia,
  useTraffic,
} from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { useWake } from '../../api/power';
import { ConfirmDialog } from '../../components/confirm';
import { QueryTable } from '../../components/query-state';
import { PageHeader } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import { BulkBar, type BulkAction } from './bulk-bar';
import { BulkModal } from './bulk-modal';
import { ImportModal } from './import-modal';
import { MachineDrawer } from './machine-drawer';
import { MachineFilters } from './machine-filters';
import { MachineFormModal, type MachineSave } from './machine-form';
import type { MachinesSearch } from './machines-search';
import { MachinesTable } from './machines-table';
import { PendingBanner } from './pending-banner';

const PAGE_SIZE = 50;

export function MachinesPage() {
  const search: MachinesSearch = useSearch({ strict: false });
  const navigate = useNavigate();
  const canWrite = useCan('operator');
  const sort = search.sort ?? 'name';
  const page = search.page ?? 1;
  const setSearch = (patch: Partial<MachinesSearch>) =>
    void navigate({ to: '/machines', search: { ...search, page: undefined, ...patch }, replace: true });

  const list = useMachines({
    q: search.q,
    status: search.status,
    bootMode: search.bootMode,
    imageId: search.imageId,
    groupId: search.groupId,
    sort,
    limit: PAGE_SIZE,
    offset: (page - 1) * PAGE_SIZE,
  });
  const images = useImages();
  const media = useMedia();
  const groups = useGroups();
  const groupList = groups.data?.items ?? [];
  const groupName = useMemo(
    () => new Map((groups.data?.items ?? []).map((g) => [g.id, g.name])),
    [groups.data],
  );
  const sessions = useLiveSessions();
  const pending = useMachineCount('pending');
  const imageList = images.data?.items ?? [];
  const imageName = useMemo(
    () => new Map((images.data?.items ?? []).map((i) => [i.id, i.name])),
    [images.data],
  );
  const traffic = useTraffic();
  const trafficByMachine = useMemo(
    () => new Map((traffic.data?.machines ?? []).map((m) => [m.machineId, m])),
    [traffic.data],
  );
  const sessionByMachine = useMemo(
    () => new Map((sessions.data?.items ?? []).map((s) => [s.machineId, s])),
    [sessions.data],
  );

  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [editing, setEditing] = useState<Machine | null>(null);
  const [formOpen, setFormOpen] = useState(false);
  const [importOpen, setImportOpen] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState<Machine | null>(null);
  const [detailId, setDetailId] = useState<string | null>(null);
  const [bulkConfirm, setBulkConfirm] = useState<BulkAction | null>(null);

  const save = useApiMutation<MachineSave, Machine>(
    ({ id, body }) =>
      id ? { path: `/machines/${id}`, method: 'PATCH', body } : { path: '/machines', method: 'POST', body },
    [keys.machines],
    { silent: true },
  );
  const patch = useApiMutation<{ id: string; body: MachineUpdate }>(
    ({ id, body }) => ({ path: `/machines/${id}`, method: 'PATCH', body }),
    [keys.machines],
  );
  const del = useApiMutation<string>(
    (id) => ({ path: `/machines/${id}`, method: 'DELETE' }),
    [keys.machines],
  );
  const bulk = useApiMutation<MachineBulk, MachineBulkResult>(
    (body) => ({ path: '/machines/bulk', method: 'POST', body }),
    [keys.machines],
  );

  const wake = useWake();
  const items = list.data?.items ?? [];
  const runBulk = async (
    action: BulkAction,
    extra: Pick<MachineBulk, 'bootImageId' | 'bootMode' | 'groupId'> = {},
  ) => {
    const r = await bulk.mutateAsync({ ids: [...selected], action, ...extra });
    notifyOk(`${r.affected} machine${r.affected === 1 ? '' : 's'} updated`);
    setSelected(new Set());
  };
  const filtered = !!(search.q || search.status || search.bootMode || search.imageId || search.groupId);

  return (
    <>
      <PageHeader
        title="Machines"
        description="Every PC that boots from GGnet, live."
        actions={
          canWrite && (
            <>
              <Button
                variant="default"
                leftSection={<IconFileImport size={16} />}
                onClick={() => setImportOpen(true)}
              >
                Import CSV
              </Button>
              <Button
                leftSection={<IconDeviceDesktopPlus size={16} />}
                onClick={() => {
                  setEditing(null);
                  setFormOpen(true);
                }}
              >
                Add machine
              </Button>
            </>
          )
        }
      />
      {!!pending.data && search.status !== 'pending' && (
        <PendingBanner count={pending.data} onShow={() => setSearch({ status: 'pending' })} />
      )}
      <Card withBorder padding={0}>
        <MachineFilters
          search={search}
          images={imageList}
          groups={groupList}
          total={list.data?.total}
          onChange={setSearch}
        />
        {canWrite && selected.size > 0 && (
          <BulkBar
            count={selected.size}
            onRun={(action) => void runBulk(action)}
            onAsk={setBulkConfirm}
            onClear={() => setSelected(new Set())}
            onWake={() => void wake.wake({ machineIds: [...selected] })}
          />
        )}
        <QueryTable
          query={list}
          cols={9}
          emptyTitle={filtered ? 'No machine matches' : 'No machines yet'}
          emptyMessage={
            filtered
              ? 'Change the search or clear the filters.'
              : 'Add machines by hand, import a CSV, or just PXE-boot a PC: with auto-registration it appears here for approval.'
          }
        >
          {(data) => (
            <MachinesTable
              items={data.items}
              canWrite={canWrite}
              sort={sort}
              onSort={(s) => setSearch({ sort: s })}
              selected={selected}
              onSelect={setSelected}
              imageName={imageName}
              groupName={groupName}
              sessionByMachine={sessionByMachine}
              trafficByMachine={trafficByMachine}
              onOpen={(m) => setDetailId(m.id)}
              onEdit={(m) => {
                setEditing(m);
                setFormOpen(true);
              }}
              onPatch={(m, body) => patch.mutate({ id: m.id, body })}
              onDelete={setConfirmDelete}
              onWake={(m) => void wake.wake({ id: m.id })}
            />
          )}
        </QueryTable>
        {list.data && list.data.total > PAGE_SIZE && (
          <Group justify="center" p="sm">
            <Pagination
              total={Math.ceil(list.data.total / PAGE_SIZE)}
              value={page}
              onChange={(p) => void navigate({ to: '/machines', search: { ...search, page: p } })}
            />
          </Group>
        )}
      </Card>

      <MachineDrawer
        machine={items.find((m) => m.id === detailId) ?? null}
        images={imageList}
        groups={groupList}
        onClose={() => setDetailId(null)}
      />
      <MachineFormModal
        opened={formOpen}
        machine={editing}
        images={imageList}
        media={media.data?.items ?? []}
        groups={groupList}
        onClose={() => setFormOpen(false)}
        onSubmit={async (req) => {
          const m = await save.mutateAsync(req);
          notifyOk(editing ? `${m.name} saved` : `${m.name} added`);
        }}
      />
      <ImportModal
        opened={importOpen}
        onClose={() => setImportOpen(false)}
        onImported={() => {
          notifyOk('Machines imported');
          void list.refetch();
        }}
      />
      <ConfirmDialog
        opened={!!confirmDelete}
        title="Delete machine"
        message={`Delete ${confirmDelete?.name}? It will no longer be able to boot from GGnet.`}
        confirmLabel="Delete"
        onClose={() => setConfirmDelete(null)}
        onConfirm={async () => {
          await del.mutateAsync(confirmDelete!.id);
          notifyOk(`${confirmDelete!.name} deleted`);
        }}
      />
      <ConfirmDialog
        opened={bulkConfirm === 'delete'}
        title="Delete machines"
        message={`Delete ${selected.size} machine${selected.size === 1 ? '' : 's'}? This cannot be undone.`}
        confirmLabel="Delete"
        onClose={() => setBulkConfirm(null)}
        onConfirm={() => runBulk('delete')}
      />
      <BulkModal
        action={
          bulkConfirm === 'assignImage' || bulkConfirm === 'setBootMode' || bulkConfirm === 'moveToGroup'
            ? bulkConfirm
            : null
        }
        count={selected.size}
        images={imageList}
        groups={groupList}
        busy={bulk.isPending}
        onApply={(extra) => runBulk(bulkConfirm!, extra)}
        onClose={() => setBulkConfirm(null)}
      />
    </>
  );
}
