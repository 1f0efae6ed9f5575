import { useMemo, useState } from 'react';
import {
  ActionIcon,
  Alert,
  Badge,
  Button,
  Card,
  Checkbox,
  Group,
  Menu,
  Modal,
  Pagination,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Tooltip,
  UnstyledButton,
} from '@mantine/core';
import { useDebouncedCallback } from '@mantine/hooks';
import {
  IconChevronDown,
  IconChevronUp,
  IconDeviceDesktopPlus,
  IconDots,
  IconFileImport,
  IconPencil,
  IconSearch,
  IconSelector,
  IconTrash,
  IconUserCheck,
} from '@tabler/icons-react';
import { useNavigate, useSearch } from '@tanstack/react-router';
import type {
  BootMode,
  Machine,
  MachineBulk,
  MachineBulkResult,
  MachineUpdate,
  Session,
} from '@ggnet/contracts';
import { useApiMutation, useImages, useLiveSessions, useMachineCount, useMachines } from '../api/queries';
import { useCan } from '../api/use-auth';
import { ConfirmDialog } from '../components/confirm';
import { EmptyState, PageHeader, QueryError, StatusBadge, TableSkeleton } from '../components/ui';
import { keys } from '../live/apply-event';
import { formatDuration, formatRelative, secondsBetween } from '../lib/format';
import { notifyOk } from '../lib/notify';
import { useNow } from '../lib/use-now';
import type { MachinesSearch } from '../router';
import { ImportModal } from './machines/import-modal';
import { MachineDrawer } from './machines/machine-drawer';
import { MachineFormModal, type MachineSave } from './machines/machine-form';

const PAGE_SIZE = 50;

function SortHeader(props: { field: string; label: string; sort: string; onSort: (s: string) => void }) {
  const active = props.sort.replace(/^-/, '') === props.field;
  const desc = props.sort.startsWith('-');
  const Icon = active ? (desc ? IconChevronDown : IconChevronUp) : IconSelector;
  return (
    <Table.Th>
      <UnstyledButton
        onClick={() => props.onSort(active && !desc ? `-${props.field}` : props.field)}
        aria-label={`Sort by ${props.label}`}
      >
        <Group gap={4} wrap="nowrap">
          <Text fw={600} size="sm">
            {props.label}
          </Text>
          <Icon size={14} />
        </Group>
      </UnstyledButton>
    </Table.Th>
  );
}

function Uptime({ session }: { session: Session | undefined }) {
  const now = useNow();
  if (!session)
    return (
      <Text size="sm" c="dimmed">
        —
      </Text>
    );
  const since = session.activeAt ?? session.startedAt;
  // a title, not a Tooltip: 50 rows of floating-ui tooltips cost a visible part of the first render
  return (
    <Text size="sm" title={session.activeAt ? 'up since the OS logged in to its disk' : 'booting since'}>
      {formatDuration(secondsBetween(since, now))}
    </Text>
  );
}

/**
 * The "…" menu of a row. The Menu (and its floating-ui positioning) is mounted only while open: 50
 * rows of closed menus made the first render of the table measurably slower (bench/web-budget).
 */
function RowMenu(props: {
  machine: Machine;
  onEdit: () => void;
  onToggle: () => void;
  onDelete: () => void;
}) {
  const [open, setOpen] = useState(false);
  const trigger = (
    <ActionIcon
      variant="subtle"
      aria-label={`Actions for ${props.machine.name}`}
      onClick={() => setOpen(true)}
    >
      <IconDots size={16} />
    </ActionIcon>
  );
  if (!open) return trigger;
  return (
    <Menu opened onChange={setOpen} position="bottom-end" withinPortal>
      <Menu.Target>{trigger}</Menu.Target>
      <Menu.Dropdown>
        <Menu.Item leftSection={<IconPencil size={14} />} onClick={props.onEdit}>
          Edit
        </Menu.Item>
        <Menu.Item onClick={props.onToggle}>{props.machine.enabled ? 'Disable' : 'Enable'}</Menu.Item>
        <Menu.Item color="red" leftSection={<IconTrash size={14} />} onClick={props.onDelete}>
          Delete
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

type BulkAction = MachineBulk['action'];

export function MachinesPage() {
  const search: MachinesSearch = useSearch({ strict: false });
  const navigate = useNavigate();
  const canWrite = useCan('operator');
  const sort = search.sort ?? 'name';
  const page = search.page ?? 1;
  const setSearch = (patch: Partial<MachinesSearch>) =>
    void navigate({ to: '/machines', search: { ...search, page: undefined, ...patch }, replace: true });

  const [q, setQ] = useState(search.q ?? '');
  const pushQ = useDebouncedCallback((v: string) => setSearch({ q: v || undefined }), 250);

  const list = useMachines({
    q: search.q,
    status: search.status,
    bootMode: search.bootMode,
    imageId: search.imageId,
    sort,
    limit: PAGE_SIZE,
    offset: (page - 1) * PAGE_SIZE,
  });
  const images = useImages();
  const sessions = useLiveSessions();
  const pending = useMachineCount('pending');
  const imageName = useMemo(
    () => new Map((images.data?.items ?? []).map((i) => [i.id, i.name])),
    [images.data],
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
  const [bulkImage, setBulkImage] = useState<string | null>(null);
  const [bulkMode, setBulkMode] = useState<BootMode>('normal');

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

  const items = list.data?.items ?? [];
  const allSelected = items.length > 0 && items.every((m) => selected.has(m.id));
  const toggle = (id: string) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  const runBulk = async (action: BulkAction, extra: Pick<MachineBulk, 'bootImageId' | 'bootMode'> = {}) => {
    const r = await bulk.mutateAsync({ ids: [...selected], action, ...extra });
    notifyOk(`${r.affected} machine${r.affected === 1 ? '' : 's'} updated`);
    setSelected(new Set());
  };
  const filtered = !!(search.q || search.status || search.bootMode || search.imageId);

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
        <Alert color="yellow" mb="md" data-testid="pending-banner">
          <Group justify="space-between">
            <Text size="sm">
              {pending.data} machine{pending.data === 1 ? ' is' : 's are'} waiting for approval.
            </Text>
            <Button size="xs" variant="light" color="yellow" onClick={() => setSearch({ status: 'pending' })}>
              Show pending
            </Button>
          </Group>
        </Alert>
      )}
      <Card withBorder padding={0}>
        <Group p="sm" gap="sm" wrap="wrap">
          <TextInput
            placeholder="Search name, MAC, IP, description"
            leftSection={<IconSearch size={16} />}
            value={q}
            onChange={(e) => {
              setQ(e.currentTarget.value);
              pushQ(e.currentTarget.value);
            }}
            w={280}
            aria-label="Search machines"
          />
          <Select
            placeholder="Any status"
            clearable
            w={150}
            aria-label="Status filter"
            data={['online', 'booting', 'offline', 'pending', 'disabled']}
            value={search.status ?? null}
            onChange={(v) => setSearch({ status: v ?? undefined })}
          />
          <Select
            placeholder="Any boot mode"
            clearable
            w={160}
            aria-label="Boot mode filter"
            data={['normal', 'maintenance', 'local']}
            value={search.bootMode ?? null}
            onChange={(v) => setSearch({ bootMode: v ?? undefined })}
          />
          <Select
            placeholder="Any image"
            clearable
            searchable
            w={180}
            aria-label="Image filter"
            data={(images.data?.items ?? []).map((i) => ({ value: i.id, label: i.name }))}
            value={search.imageId ?? null}
            onChange={(v) => setSearch({ imageId: v ?? undefined })}
          />
          <Text size="sm" c="dimmed" ml="auto">
            {list.data ? `${list.data.total} machine${list.data.total === 1 ? '' : 's'}` : ''}
          </Text>
        </Group>
        {canWrite && selected.size > 0 && (
          <Group px="sm" pb="sm" gap="xs" data-testid="bulk-bar">
            <Badge variant="filled">{selected.size} selected</Badge>
            <Button size="xs" variant="light" onClick={() => runBulk('enable')}>
              Enable
            </Button>
            <Button size="xs" variant="light" onClick={() => runBulk('disable')}>
              Disable
            </Button>
            <Button size="xs" variant="light" color="yellow" onClick={() => runBulk('approve')}>
              Approve
            </Button>
            <Button size="xs" variant="light" onClick={() => setBulkConfirm('assignImage')}>
              Assign image…
            </Button>
            <Button size="xs" variant="light" onClick={() => setBulkConfirm('setBootMode')}>
              Set boot mode…
            </Button>
            <Button size="xs" variant="light" color="red" onClick={() => setBulkConfirm('delete')}>
              Delete
            </Button>
            <Button size="xs" variant="subtle" onClick={() => setSelected(new Set())}>
              Clear
            </Button>
          </Group>
        )}
        {list.isPending ? (
          <TableSkeleton cols={8} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : items.length === 0 ? (
          filtered ? (
            <EmptyState title="No machine matches" message="Change the search or clear the filters." />
          ) : (
            <EmptyState
              title="No machines yet"
              message="Add machines by hand, import a CSV, or just PXE-boot a PC: with auto-registration it appears here for approval."
            />
          )
        ) : (
          <Table.ScrollContainer minWidth={900}>
            <Table striped highlightOnHover verticalSpacing={6} data-testid="machines-table">
              <Table.Thead>
                <Table.Tr>
                  {canWrite && (
                    <Table.Th w={36}>
                      <Checkbox
                        aria-label="Select all"
                        checked={allSelected}
                        indeterminate={!allSelected && items.some((m) => selected.has(m.id))}
                        onChange={() =>
                          setSelected(allSelected ? new Set() : new Set(items.map((m) => m.id)))
                        }
                      />
                    </Table.Th>
                  )}
                  <SortHeader field="name" label="Name" sort={sort} onSort={(s) => setSearch({ sort: s })} />
                  <SortHeader
                    field="status"
                    label="Status"
                    sort={sort}
                    onSort={(s) => setSearch({ sort: s })}
                  />
                  <SortHeader field="mac" label="MAC" sort={sort} onSort={(s) => setSearch({ sort: s })} />
                  <SortHeader field="ip" label="IP" sort={sort} onSort={(s) => setSearch({ sort: s })} />
                  <Table.Th>Image</Table.Th>
                  <SortHeader
                    field="bootMode"
                    label="Mode"
                    sort={sort}
                    onSort={(s) => setSearch({ sort: s })}
                  />
                  <Table.Th>Uptime</Table.Th>
                  <SortHeader
                    field="lastSeenAt"
                    label="Last seen"
                    sort={sort}
                    onSort={(s) => setSearch({ sort: s })}
                  />
                  {canWrite && <Table.Th w={40} />}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((m) => (
                  <Table.Tr key={m.id} data-machine={m.name}>
                    {canWrite && (
                      <Table.Td>
                        <Checkbox
                          aria-label={`Select ${m.name}`}
                          checked={selected.has(m.id)}
                          onChange={() => toggle(m.id)}
                        />
                      </Table.Td>
                    )}
                    <Table.Td>
                      <UnstyledButton onClick={() => setDetailId(m.id)} aria-label={`Details of ${m.name}`}>
                        <Text size="sm" fw={500} c="var(--mantine-primary-color-filled)">
                          {m.name}
                        </Text>
                      </UnstyledButton>
                      {m.tags.length > 0 && (
                        <Group gap={4}>
                          {m.tags.map((t) => (
                            <Badge key={t} size="xs" variant="outline">
                              {t}
                            </Badge>
                          ))}
                        </Group>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <StatusBadge status={m.status} />
                    </Table.Td>
                    <Table.Td ff="monospace" fz="sm">
                      {m.mac}
                    </Table.Td>
                    <Table.Td fz="sm">
                      {m.ip ?? m.lastIp ?? (
                        <Text span c="dimmed">
                          —
                        </Text>
                      )}
                      {!m.ip && m.lastIp && (
                        <Text span size="xs" c="dimmed">
                          {' '}
                          (dhcp)
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td fz="sm">
                      {m.bootImageId ? (
                        (imageName.get(m.bootImageId) ?? '…')
                      ) : (
                        <Text span c="dimmed">
                          none
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td fz="sm">{m.bootMode}</Table.Td>
                    <Table.Td>
                      <Uptime session={sessionByMachine.get(m.id)} />
                    </Table.Td>
                    <Table.Td fz="sm">{formatRelative(m.lastSeenAt)}</Table.Td>
                    {canWrite && (
                      <Table.Td>
                        <Group gap={4} wrap="nowrap">
                          {m.pending && (
                            <Tooltip label="Approve">
                              <ActionIcon
                                variant="light"
                                color="yellow"
                                aria-label={`Approve ${m.name}`}
                                onClick={() => patch.mutate({ id: m.id, body: { pending: false } })}
                              >
                                <IconUserCheck size={16} />
                              </ActionIcon>
                            </Tooltip>
                          )}
                          <RowMenu
                            machine={m}
                            onEdit={() => {
                              setEditing(m);
                              setFormOpen(true);
                            }}
                            onToggle={() => patch.mutate({ id: m.id, body: { enabled: !m.enabled } })}
                            onDelete={() => setConfirmDelete(m)}
                          />
                        </Group>
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
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
        images={images.data?.items ?? []}
        onClose={() => setDetailId(null)}
      />
      <MachineFormModal
        opened={formOpen}
        machine={editing}
        images={images.data?.items ?? []}
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
      <Modal
        opened={bulkConfirm === 'assignImage' || bulkConfirm === 'setBootMode'}
        onClose={() => setBulkConfirm(null)}
        title={bulkConfirm === 'assignImage' ? 'Assign a boot image' : 'Set the boot mode'}
      >
        <Stack>
          {bulkConfirm === 'assignImage' ? (
            <Select
              label="Boot image"
              placeholder="none (remove the image)"
              clearable
              data={(images.data?.items ?? []).map((i) => ({ value: i.id, label: i.name }))}
              value={bulkImage}
              onChange={setBulkImage}
            />
          ) : (
            <Select
              label="Boot mode"
              data={['normal', 'maintenance', 'local']}
              value={bulkMode}
              onChange={(v) => v && setBulkMode(v as BootMode)}
              allowDeselect={false}
            />
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setBulkConfirm(null)}>
              Cancel
            </Button>
            <Button
              loading={bulk.isPending}
              onClick={async () => {
                if (bulkConfirm === 'assignImage') await runBulk('assignImage', { bootImageId: bulkImage });
                else await runBulk('setBootMode', { bootMode: bulkMode });
                setBulkConfirm(null);
              }}
            >
              Apply to {selected.size}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}
