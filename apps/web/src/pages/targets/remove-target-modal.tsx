import { useState } from 'react';
import { Checkbox, Modal, Stack, Text } from '@mantine/core';
import type { Target } from '@ggnet/contracts';
import { useApiMutation } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import { ModalActions } from '../../components/modal-actions';

/** Removes a target, keeping or discarding its writeback (the disk's changes). */
export function RemoveTargetModal({ target, onClose }: { target: Target | null; onClose: () => void }) {
  const [keepWriteback, setKeepWriteback] = useState(false);
  const remove = useApiMutation<{ id: string; keep: boolean }>(
    ({ id, keep }) => ({
      path: `/targets/${id}`,
      method: 'DELETE',
      query: { keepWriteback: keep ? 'true' : undefined },
    }),
    [keys.targets, keys.sessions],
  );
  return (
    <Modal opened={!!target} onClose={onClose} title="Remove target">
      <Stack>
        <Text size="sm">
          Remove {target?.iqn}?{' '}
          {target?.connections.length ? 'A client is logged in right now and loses its disk.' : ''}
        </Text>
        <Checkbox
          label="Keep its writeback (the disk's changes) instead of discarding it"
          checked={keepWriteback}
          onChange={(e) => setKeepWriteback(e.currentTarget.checked)}
        />
        <ModalActions
          onCancel={onClose}
          label="Remove"
          color="red"
          loading={remove.isPending}
          onConfirm={async () => {
            await remove.mutateAsync({ id: target!.id, keep: keepWriteback });
            notifyOk('Target removed');
            onClose();
          }}
        />
      </Stack>
    </Modal>
  );
}
