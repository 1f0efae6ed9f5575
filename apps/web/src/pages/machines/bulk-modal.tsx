import { useState } from 'react';
import { Modal, Select, Stack } from '@mantine/core';
import {
  BOOT_MODES,
  type BootMode,
  type Group as MachineGroup,
  type Image,
  type MachineBulk,
} from '@ggnet/contracts';
import { ModalActions } from '../../components/modal-actions';

const TITLES = {
  assignImage: 'Assign a boot image',
  setBootMode: 'Set the boot mode',
  moveToGroup: 'Move to a group',
} as const;

/** Asks for the image (or none), the boot mode or the group to set on the selected machines. */
export function BulkModal(props: {
  action: 'assignImage' | 'setBootMode' | 'moveToGroup' | null;
  count: number;
  images: Image[];
  groups: MachineGroup[];
  busy: boolean;
  onApply: (extra: Pick<MachineBulk, 'bootImageId' | 'bootMode' | 'groupId'>) => Promise<unknown>;
  onClose: () => void;
}) {
  const [image, setImage] = useState<string | null>(null);
  const [mode, setMode] = useState<BootMode | 'inherit'>('inherit');
  const [group, setGroup] = useState<string | null>(null);
  const assign = props.action === 'assignImage';
  const move = props.action === 'moveToGroup';
  return (
    <Modal
      opened={props.action !== null}
      onClose={props.onClose}
      title={props.action ? TITLES[props.action] : ''}
    >
      <Stack>
        {move ? (
          <Select
            label="Group"
            placeholder="no group (take them out)"
            clearable
            data={props.groups.map((g) => ({ value: g.id, label: g.name }))}
            value={group}
            onChange={setGroup}
          />
        ) : assign ? (
          <Select
            label="Boot image"
            placeholder="inherit (group, then default image)"
            clearable
            data={props.images.map((i) => ({ value: i.id, label: i.name }))}
            value={image}
            onChange={setImage}
          />
        ) : (
          <Select
            label="Boot mode"
            data={[{ value: 'inherit', label: 'inherit (group, then normal)' }, ...BOOT_MODES]}
            value={mode}
            onChange={(v) => v && setMode(v as BootMode | 'inherit')}
            allowDeselect={false}
          />
        )}
        <ModalActions
          onCancel={props.onClose}
          label={<>Apply to {props.count}</>}
          loading={props.busy}
          onConfirm={async () => {
            await props.onApply(
              move
                ? { groupId: group }
                : assign
                  ? { bootImageId: image }
                  : { bootMode: mode === 'inherit' ? null : mode },
            );
            props.onClose();
          }}
        />
      </Stack>
    </Modal>
  );
}
