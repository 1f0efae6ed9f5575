import { useState } from 'react';
import { Button, Card } from '@mantine/core';
import { IconUserPlus } from '@tabler/icons-react';
import type { User, UserUpdate } from '@ggnet/contracts';
import { useApiMutation, useUsers } from '../../api/queries';
import { useAuth } from '../../api/use-auth';
import { ConfirmDialog } from '../../components/confirm';
import { QueryTable } from '../../components/query-state';
import { PageHeader } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { CreateUser } from './create-user';
import { ResetPassword } from './reset-password';
import { UsersTable } from './users-table';

export function UsersPage() {
  const me = useAuth()?.user;
  const list = useUsers({ limit: 500 });
  const [creating, setCreating] = useState(false);
  const [resetting, setResetting] = useState<User | null>(null);
  const [deleting, setDeleting] = useState<User | null>(null);
  const patch = useApiMutation<{ id: string; body: UserUpdate }, User>(
    ({ id, body }) => ({ path: `/users/${id}`, method: 'PATCH', body }),
    [keys.users],
  );
  const del = useApiMutation<string>((id) => ({ path: `/users/${id}`, method: 'DELETE' }), [keys.users]);
  return (
    <>
      <PageHeader
        title="Users"
        description="Who can use this console, and what they may do."
        actions={
          <Button leftSection={<IconUserPlus size={16} />} onClick={() => setCreating(true)}>
            New user
          </Button>
        }
      />
      <Card withBorder padding={0}>
        <QueryTable query={list} cols={5} emptyTitle="No users">
          {(data) => (
            <UsersTable
              users={data.items}
              meId={me?.id}
              onPatch={(u, body) => patch.mutate({ id: u.id, body })}
              onResetPassword={setResetting}
              onDelete={setDeleting}
            />
          )}
        </QueryTable>
      </Card>
      <CreateUser opened={creating} onClose={() => setCreating(false)} />
      <ResetPassword user={resetting} onClose={() => setResetting(null)} />
      <ConfirmDialog
        opened={!!deleting}
        title="Delete user"
        message={`Delete ${deleting?.username}? Their logins end at once.`}
        confirmLabel="Delete"
        onClose={() => setDeleting(null)}
        onConfirm={() => del.mutateAsync(deleting!.id)}
      />
    </>
  );
}
