import { useState } from 'react';
import { Alert, Button, Checkbox, Code, Group, Modal, Select, Stack, Text, TextInput } from '@mantine/core';
import type { Target, TargetCreate } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { ModalActions } from '../../components/modal-actions';

/** Admins expose a fresh copy-on-write disk of a machine's image by hand (e.g. to attach it to a VM). */
export function NewTargetModal(props: {
  opened: boolean;
  onClose: () => void;
  machines: Array<{ value: string; label: string }>;
  images: Array<{ value: string; label: string }>;
}) {
  const [machineId, setMachineId] = useState<string | null>(null);
  const [imageId, setImageId] = useState<string | null>(null);
  const [allowedAddress, setAllowedAddress] = useState('');
  const [mutualChap, setMutualChap] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Target | null>(null);
  const create = useApiMutation<TargetCreate, Target>(
    (body) => ({ path: '/targets', method: 'POST', body }),
    [keys.targets],
    { silent: true },
  );
  const close = () => {
    setCreated(null);
    setError(null);
    props.onClose();
  };
  return (
    <Modal opened={props.opened} onClose={close} title="New iSCSI target">
      {created ? (
        <Stack>
          <Alert color="teal">Target {created.iqn} is ready.</Alert>
          <Text size="sm">
            CHAP user <Code>{created.chapUser}</Code>, secret{' '}
            <Code data-testid="new-target-secret">{created.chapSecret ?? '—'}</Code>
          </Text>
          <Group justify="flex-end">
            <Button onClick={close}>Done</Button>
          </Group>
        </Stack>
      ) : (
        <Stack>
          <Select
            label="Machine"
            searchable
            data={props.machines}
            value={machineId}
            onChange={setMachineId}
            required
          />
          <Select
            label="Image"
            placeholder="the machine's boot image"
            clearable
            data={props.images}
            value={imageId}
            onChange={setImageId}
          />
          <TextInput
            label="Only from address"
            placeholder="any address"
            value={allowedAddress}
            onChange={(e) => setAllowedAddress(e.currentTarget.value)}
          />
          <Checkbox
            label="Mutual CHAP"
            checked={mutualChap}
            onChange={(e) => setMutualChap(e.currentTarget.checked)}
          />
          {error && (
            <Text c="red" size="sm" role="alert">
              {error}
            </Text>
          )}
          <ModalActions
            onCancel={close}
            label="Create target"
            loading={create.isPending}
            disabled={!machineId}
            onConfirm={async () => {
              if (!machineId) return;
              setError(null);
              try {
                const t = await create.mutateAsync({
                  machineId,
                  ...(imageId ? { imageId } : {}),
                  allowedAddress: allowedAddress.trim() || null,
                  mutualChap,
                });
                setCreated(t);
              } catch (e) {
                setError(
                  isApiError(e)
                    ? e.status === 404 && e.detail.startsWith('no route')
                      ? 'This server cannot create targets by hand yet.'
                      : `${e.detail}${e.hint ? ` — ${e.hint}` : ''}`
                    : String(e),
                );
              }
            }}
          />
        </Stack>
      )}
    </Modal>
  );
}
