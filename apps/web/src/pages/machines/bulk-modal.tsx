import { useState } from 'react';
import { Modal, Select, Stack } from '@mantine/core';
import { BOOT_MODES, type BootMode, type Image, type MachineBulk } from '@ggnet/contracts';
import { ModalActions } from '../../components/modal-actions';

/** Asks for the image (or none) or the boot mode to set on the selected machines. */
export function BulkModal(props: {
  action: 'assignImage' | 'setBootMode' | null;
  count: number;
  images: Image[];
  busy: boolean;
  onApply: (extra: Pick<MachineBulk, 'bootImageId' | 'bootMode'>) => Promise<unknown>;
  onClose: () => void;
}) {
  const [image, setImage] = useState<string | null>(null);
  const [mode, setMode] = useState<BootMode>('normal');
  const assign = props.action === 'assignImage';
  return (
    <Modal
      opened={props.action !== null}
      onClose={props.onClose}
      title={assign ? 'Assign a boot image' : 'Set the boot mode'}
    >
      <Stack>
        {assign ? (
          <Select
            label="Boot image"
            placeholder="none (remove the image)"
            clearable
            data={props.images.map((i) => ({ value: i.id, label: i.name }))}
            value={image}
            onChange={setImage}
          />
        ) : (
          <Select
            label="Boot mode"
            data={BOOT_MODES}
            value={mode}
            onChange={(v) => v && setMode(v as BootMode)}
            allowDeselect={false}
          />
        )}
        <ModalActions
          onCancel={props.onClose}
          label={<>Apply to {props.count}</>}
          loading={props.busy}
          onConfirm={async () => {
            await props.onApply(assign ? { bootImageId: image } : { bootMode: mode });
            props.onClose();
          }}
        />
      </Stack>
    </Modal>
  );
}
