import { useState } from 'react';
import { Modal, PasswordInput, Select, Stack, TextInput } from '@mantine/core';
import { USERNAME_RE, type Role, type User, type UserCreate } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import { ModalActions } from '../../components/modal-actions';

const ROLE_DATA = [
  { value: 'admin', label: 'admin — everything' },
  { value: 'operator', label: 'operator — machines, images, sessions' },
  { value: 'viewer', label: 'viewer — read only' },
];

/** A new login: name, first password and role, checked like the server before sending. */
export function CreateUser({ opened, onClose }: { opened: boolean; onClose: () => void }) {
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
    if (!USERNAME_RE.test(username.trim().toLowerCase()))
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
        <ModalActions onCancel={onClose} label="Create" loading={create.isPending} onConfirm={submit} />
      </Stack>
    </Modal>
  );
}
