import { useEffect, useState } from 'react';
import { Modal, Select, Stack, Textarea, TextInput } from '@mantine/core';
import { OS_TYPES, type Image, type ImageUpdate } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { ModalActions } from '../../components/modal-actions';

/** Rename an image, change its operating system and description. */
export function ImageDetailsModal(props: { image: Image; opened: boolean; onClose: () => void }) {
  const { image } = props;
  const [name, setName] = useState(image.name);
  const [desc, setDesc] = useState(image.description);
  const [osType, setOsType] = useState<Image['osType']>(image.osType);
  const [nameError, setNameError] = useState<string | undefined>();
  const update = useApiMutation<ImageUpdate, Image>(
    (body) => ({ path: `/images/${image.id}`, method: 'PATCH', body }),
    [keys.images],
    { silent: true },
  );
  useEffect(() => {
    if (!props.opened) return;
    setName(image.name);
    setDesc(image.description);
    setOsType(image.osType);
    setNameError(undefined);
    // the form starts afresh each time it opens (not when the image changes under it)
  }, [props.opened]);
  return (
    <Modal opened={props.opened} onClose={props.onClose} title="Image details">
      <Stack>
        <TextInput
          label="Name"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={nameError}
        />
        <Select
          label="Operating system"
          data={OS_TYPES}
          value={osType}
          onChange={(v) => v && setOsType(v as Image['osType'])}
          allowDeselect={false}
        />
        <Textarea
          label="Description"
          value={desc}
          onChange={(e) => setDesc(e.currentTarget.value)}
          autosize
          minRows={2}
        />
        <ModalActions
          onCancel={props.onClose}
          label="Save"
          loading={update.isPending}
          onConfirm={async () => {
            try {
              await update.mutateAsync({ name, description: desc, osType });
              props.onClose();
            } catch (e) {
              setNameError(isApiError(e) ? (e.fieldErrors().name ?? e.detail) : String(e));
            }
          }}
        />
      </Stack>
    </Modal>
  );
}
