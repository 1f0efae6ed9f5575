import { useEffect, useState } from 'react';
import { Modal, NumberInput, Select, Stack, Text, TextInput } from '@mantine/core';
import type { Image, ImageCreate } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { ModalActions } from '../../components/modal-actions';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';

const GiB = 1024 ** 3;

/**
 * A blank image: an empty network disk of a given size (sparse: it takes no space until written),
 * to install an OS onto with install mode (a machine in maintenance mode with an ISO).
 */
export function BlankImageModal(props: { opened: boolean; onClose: () => void }) {
  const [name, setName] = useState('');
  const [sizeGiB, setSizeGiB] = useState<number | string>(64);
  const [osType, setOsType] = useState<'windows' | 'linux' | 'other'>('windows');
  const [error, setError] = useState<string | null>(null);
  const create = useApiMutation<ImageCreate, Image>(
    (body) => ({ path: '/images', method: 'POST', body }),
    [keys.images],
  );
  useEffect(() => {
    if (props.opened) {
      setName('');
      setError(null);
    }
  }, [props.opened]);

  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setError(null);
    try {
      const img = await create.mutateAsync({
        name: name.trim(),
        osType,
        sizeBytes: Math.round(Number(sizeGiB) * GiB),
      });
      notifyOk(`${img.name}: a blank ${sizeGiB} GiB disk, published as v1`);
      props.onClose();
    } catch (err) {
      setError(isApiError(err) ? `${err.detail}${err.hint ? ` — ${err.hint}` : ''}` : String(err));
    }
  };

  return (
    <Modal opened={props.opened} onClose={props.onClose} title="New blank image">
      <form onSubmit={submit} noValidate data-testid="blank-image-form">
        <Stack>
          <Text size="sm" c="dimmed">
            An empty network disk to install an OS onto: put a machine in maintenance mode with an install
            medium (ISO), let the installer write to the disk, then apply its writes as a new version. The
            disk takes no space until something is written to it.
          </Text>
          <TextInput
            label="Name"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            data-autofocus
          />
          <NumberInput
            label="Size (GiB)"
            min={1}
            max={65536}
            value={sizeGiB}
            onChange={setSizeGiB}
            required
          />
          <Select
            label="Operating system"
            data={[
              { value: 'windows', label: 'Windows' },
              { value: 'linux', label: 'Linux' },
              { value: 'other', label: 'Other' },
            ]}
            value={osType}
            onChange={(v) => setOsType((v ?? 'windows') as typeof osType)}
            allowDeselect={false}
          />
          {error && (
            <Text c="red" size="sm" role="alert">
              {error}
            </Text>
          )}
          <ModalActions
            onCancel={props.onClose}
            label="Create"
            loading={create.isPending}
            submit
            disabled={!name.trim()}
          />
        </Stack>
      </form>
    </Modal>
  );
}
