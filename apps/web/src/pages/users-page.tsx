import { useState } from 'react';
import {
  Button,
  Card,
  Group,
  Modal,
  PasswordInput,
  Select,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Tooltip,
} from '@mantine/core';
import { IconKey, IconTrash, IconUserPlus } from '@tabler/icons-react';
import type { PasswordReset, Role, User, UserCreate, UserUpdate } from '@ggnet/contracts';
import { isApiError } from '../api/api-error';
import { useApiMutation, useUsers } from '../api/queries';
import { useAuth } from '../api/use-auth';
import { ConfirmDialog } from '../components/confirm';
import { EmptyState, PageHeader, QueryError, TableSkeleton } from '../components/ui';
import { keys } from '../live/apply-event';
import { formatRelative } from '../lib/format';
import { notifyOk } from '../lib/notify';

const ROLE_DATA = [
  { value: 'admin', label: 'admin — everything' },
  { value: 'operator', label: 'operator — machines, images, sessions' },
  { value: 'viewer', label: 'viewer — read only' },
];

function CreateUser({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const create = useApiMutation<UserCreate, User>(
    (body) => ({ path: '/users', method: 'POST', body }),
    [keys.users],
    { silent: true },
  );
  const submit = async () => {
    const e: Record<string, string> = {};
    if (!/^[a-z0-9][a-z0-9._-]{1,31}$/.test(username.trim().toLowerCase()))
      e.username = '2-32 characters: lower-case letters, digits, dot, underscore or hyphen';
    if (password.length < 8) e.password = 'at least 8 characters';
    setErrors(e);
    if (Object.keys(e).length) return;
    try {
      await create.mutateAsync({ username: username.trim().toLowerCase(), password, role });
      notifyOk(`User ${username} created`);
      setUsername('');
      setPassword('');
      onClose();
    } catch (err) {
      if (isApiError(err)) {
        const fe = err.fieldErrors();
        setErrors(Object.keys(fe).length ? fe : { username: err.detail });
      }
    }
  };
  return (
    <Modal opened={opened} onClose={onClose} title="New user">
      <Stack>
        <TextInput
          label="Username"
          value={username}
          onChange={(e) => setUsername(e.currentTarget.value)}
          error={errors.username}
          data-autofocus
        />
        <PasswordInput
          label="Password"
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={errors.password}
        />
        <Select
          label="Role"
          data={ROLE_DATA}
          value={role}
          onChange={(r) => r && setRole(r as Role)}
          allowDeselect={false}
        />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button loading={create.isPending} onClick={submit}>
            Create
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function ResetPassword({ user, onClose }: { user: User | null; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const reset = useApiMutation<{ id: string } & PasswordReset>(
    ({ id, ...body }) => ({ path: `/users/${id}/password`, method: 'POST', body }),
    [keys.users],
    { silent: true },
  );
  return (
    <Modal opened={!!user} onClose={onClose} title={`New password for ${user?.username}`}>
      <Stack>
        <Text size="sm" c="dimmed">
          The user's current logins end; they log in again with the new password.
        </Text>
        <PasswordInput
          label="New password"
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={error}
          data-autofocus
        />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button
            loading={reset.isPending}
            onClick={async () => {
              if (password.length < 8) return setError('at least 8 characters');
              try {
                await reset.mutateAsync({ id: user!.id, password });
                notifyOk(`Password of ${user!.username} changed`);
                setPassword('');
                onClose();
              } catch (e) {
                setError(isApiError(e) ? (e.fieldErrors().password ?? e.detail) : String(e));
              }
            }}
          >
            Set password
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

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
        {list.isPending ? (
          <TableSkeleton cols={5} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <EmptyState title="No users" />
        ) : (
          <Table verticalSpacing={8} data-testid="users-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>User</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th>Enabled</Table.Th>
                <Table.Th>Last login</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.data.items.map((u) => {
                const self = u.id === me?.id;
                return (
                  <Table.Tr key={u.id} data-user={u.username}>
                    <Table.Td fw={500}>
                      {u.username}
                      {self && (
                        <Text span size="xs" c="dimmed">
                          {' '}
                          (you)
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td w={220}>
                      <Tooltip label="You cannot change your own role" disabled={!self}>
                        <Select
                          size="xs"
                          data={['admin', 'operator', 'viewer']}
                          value={u.role}
                          disabled={self}
                          allowDeselect={false}
                          aria-label={`Role of ${u.username}`}
                          onChange={(r) =>
                            r && r !== u.role && patch.mutate({ id: u.id, body: { role: r as Role } })
                          }
                        />
                      </Tooltip>
                    </Table.Td>
                    <Table.Td>
                      <Switch
                        checked={!u.disabled}
                        disabled={self}
                        aria-label={`Enable ${u.username}`}
                        onChange={(e) =>
                          patch.mutate({ id: u.id, body: { disabled: !e.currentTarget.checked } })
                        }
                      />
                    </Table.Td>
                    <Table.Td fz="sm">{u.lastLoginAt ? formatRelative(u.lastLoginAt) : 'never'}</Table.Td>
                    <Table.Td>
                      <Group gap={4} justify="flex-end" wrap="nowrap">
                        <Button
                          size="compact-xs"
                          variant="light"
                          leftSection={<IconKey size={12} />}
                          onClick={() => setResetting(u)}
                        >
                          Reset password
                        </Button>
                        {!self && (
                          <Button
                            size="compact-xs"
                            variant="light"
                            color="red"
                            leftSection={<IconTrash size={12} />}
                            onClick={() => setDeleting(u)}
                          >
                            Delete
                          </Button>
                        )}
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        )}
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
