import { useState } from 'react';
import { Button, Card, Stack } from '@mantine/core';
import { IconUsersGroup } from '@tabler/icons-react';
import type { Group, GroupCreate } from '@ggnet/contracts';
import { useApiMutation, useGroups, useImages } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { ConfirmDialog } from '../../components/confirm';
import { QueryTable } from '../../components/query-state';
import { PageHeader } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import { GroupFormModal } from './group-form';
import { useWake } from '../../api/power';
import { GroupsTable } from './groups-table';
import { ReleasesPanel } from './releases-panel';

/** Groups (rooms): settings their machines inherit, auto-registration rules, staged releases. */
export function GroupsPage() {
  const canWrite = useCan('operator');
  const list = useGroups();
  const wake = useWake();
  const images = useImages();
  const imageList = images.data?.items ?? [];
  const [editing, setEditing] = useState<Group | null>(null);
  const [formOpen, setFormOpen] = useState(false);
  const [deleting, setDeleting] = useState<Group | null>(null);
  const save = useApiMutation<{ id?: string; body: GroupCreate }, Group>(
    ({ id, body }) =>
      id ? { path: `/groups/${id}`, method: 'PATCH', body } : { path: '/groups', method: 'POST', body },
    [keys.groups, keys.machines],
    { silent: true },
  );
  const del = useApiMutation<string>(
    (id) => ({ path: `/groups/${id}`, method: 'DELETE' }),
    [keys.groups, keys.machines],
  );
  return (
    <>
      <PageHeader
        title="Groups"
        description="Rooms of PCs: what their machines boot unless a machine says otherwise, and versions released to a ring first."
        actions={
          canWrite && (
            <Button
              leftSection={<IconUsersGroup size={16} />}
              onClick={() => {
                setEditing(null);
                setFormOpen(true);
              }}
            >
              New group
            </Button>
          )
        }
      />
      <Stack>
        <Card withBorder padding={0}>
          <QueryTable
            query={list}
            cols={7}
            emptyTitle="No groups yet"
            emptyMessage="Create a group per room: its machines inherit its boot image, disks and mode."
          >
            {(data) => (
              <GroupsTable
                groups={data.items}
                images={imageList}
                canWrite={canWrite}
                onEdit={(g) => {
                  setEditing(g);
                  setFormOpen(true);
                }}
                onDelete={setDeleting}
                onWake={canWrite ? (g) => void wake.wake({ groupId: g.id }) : undefined}
              />
            )}
          </QueryTable>
        </Card>
        <ReleasesPanel images={imageList} groups={list.data?.items ?? []} canWrite={canWrite} />
      </Stack>
      <GroupFormModal
        opened={formOpen}
        group={editing}
        images={imageList}
        onClose={() => setFormOpen(false)}
        onSubmit={async (body) => {
          const g = await save.mutateAsync({ id: editing?.id, body });
          notifyOk(editing ? `${g.name} saved` : `${g.name} created`);
        }}
      />
      <ConfirmDialog
        opened={!!deleting}
        title="Delete group"
        message={`Delete ${deleting?.name}? Its ${deleting?.machineCount ?? 0} machine(s) stay, in no group, and boot with their own settings and the defaults.`}
        confirmLabel="Delete"
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await del.mutateAsync(deleting!.id);
          notifyOk(`${deleting!.name} deleted`);
        }}
      />
    </>
  );
}
