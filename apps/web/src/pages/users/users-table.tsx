import { Button, Group, Select, Switch, Table, Text, Tooltip } from '@mantine/core';
import { IconKey, IconTrash } from '@tabler/icons-react';
import { ROLES, type Role, type User, type UserUpdate } from '@ggnet/contracts';
import { formatRelative } from '../../lib/format';
import { TableHead } from '../../components/ui';

/** The users with their role and whether they may log in; nobody changes their own role or account. */
export function UsersTable(props: {
  users: User[];
  meId: string | undefined;
  onPatch: (u: User, body: UserUpdate) => void;
  onResetPassword: (u: User) => void;
  onDelete: (u: User) => void;
}) {
  return (
    <Table verticalSpacing={8} data-testid="users-table">
      <TableHead columns={['User', 'Role', 'Enabled', 'Last login', '']} />
      <Table.Tbody>
        {props.users.map((u) => {
          const self = u.id === props.meId;
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
                    data={ROLES}
                    value={u.role}
                    disabled={self}
                    allowDeselect={false}
                    aria-label={`Role of ${u.username}`}
                    onChange={(r) => r && r !== u.role && props.onPatch(u, { role: r as Role })}
                  />
                </Tooltip>
              </Table.Td>
              <Table.Td>
                <Switch
                  checked={!u.disabled}
                  disabled={self}
                  aria-label={`Enable ${u.username}`}
                  onChange={(e) => props.onPatch(u, { disabled: !e.currentTarget.checked })}
                />
              </Table.Td>
              <Table.Td fz="sm">{u.lastLoginAt ? formatRelative(u.lastLoginAt) : 'never'}</Table.Td>
              <Table.Td>
                <Group gap={4} justify="flex-end" wrap="nowrap">
                  <Button
                    size="compact-xs"
                    variant="light"
                    leftSection={<IconKey size={12} />}
                    onClick={() => props.onResetPassword(u)}
                  >
                    Reset password
                  </Button>
                  {!self && (
                    <Button
                      size="compact-xs"
                      variant="light"
                      color="red"
                      leftSection={<IconTrash size={12} />}
                      onClick={() => props.onDelete(u)}
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
  );
}
