import { useState } from 'react';
import { Checkbox, Modal, Stack, Text, Textarea } from '@mantine/core';
import type { ApplyWriteback, ImageVersion, Session } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import { ModalActions } from '../../components/modal-actions';

/** Turns the writes of a maintenance session into a new version of its image. */
export function ApplyModal({ session, onClose }: { session: Session | null; onClose: () => void }) {
  const [comment, setComment] = useState('');
  const [publish, setPublish] = useState(false);
  const [force, setForce] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const apply = useApiMutation<{ id: string } & ApplyWriteback, ImageVersion>(
    ({ id, ...body }) => ({ path: `/sessions/${id}/apply`, method: 'POST', body }),
    [keys.sessions, keys.images],
    { silent: true },
  );
  return (
    <Modal
      opened={!!session}
      onClose={onClose}
      title={`Apply the changes of ${session?.machineName ?? 'this machine'}`}
    >
      <Stack>
        <Text size="sm" c="dimmed">
          The writes of this maintenance session become a new version of the image. The session ends.
        </Text>
        <Textarea
          label="What changed"
          placeholder="e.g. Windows updates of November, new game launcher"
          value={comment}
          onChange={(e) => setComment(e.currentTarget.value)}
          error={error}
          autosize
          minRows={2}
          required
        />
        <Checkbox
          label="Publish the new version at once"
          checked={publish}
          onChange={(e) => setPublish(e.currentTarget.checked)}
        />
        <Checkbox
          label="The PC is still running: take a crash-consistent snapshot anyway"
          description="Better: shut the PC down first, then apply"
          checked={force}
          onChange={(e) => setForce(e.currentTarget.checked)}
        />
        <ModalActions
          onCancel={onClose}
          label="Apply as new version"
          loading={apply.isPending}
          onConfirm={async () => {
            if (!comment.trim()) return setError('a comment says what changed');
            try {
              await apply.mutateAsync({ id: session!.id, comment: comment.trim(), publish, force });
              notifyOk('A new version is being created from the session');
              setComment('');
              onClose();
            } catch (e) {
              setError(
                isApiError(e) && e.status === 404 && e.code === 'not_found' && e.detail.startsWith('no route')
                  ? 'This server cannot apply writebacks yet.'
                  : isApiError(e)
                    ? `${e.detail}${e.hint ? ` — ${e.hint}` : ''}`
                    : String(e),
              );
            }
          }}
        />
      </Stack>
    </Modal>
  );
}
