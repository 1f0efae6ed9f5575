import { useState } from 'react';
import { Modal, PasswordInput, Stack, Text } from '@mantine/core';
import type { PasswordReset, User } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import { ModalActions } from '../../components/modal-actions';

/** An admin sets a new password for a user; the user's logins end. */
export function ResetPassword({ user, onClose }: { user: User | null; onClose: () => void }) {
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
        <ModalActions
          onCancel={onClose}
          label="Set password"
          loading={reset.isPending}
          onConfirm={async () => {
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
        />
      </Stack>
    </Modal>
  );
}
