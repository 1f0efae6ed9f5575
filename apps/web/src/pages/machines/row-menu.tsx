import { useState } from 'react';
import { ActionIcon, Menu } from '@mantine/core';
import { IconDots, IconPencil, IconPower, IconTrash } from '@tabler/icons-react';
import type { Machine } from '@ggnet/contracts';

/**
 * The "…" menu of a row. The Menu (and its floating-ui positioning) is mounted only while open: 50
 * rows of closed menus made the first render of the table measurably slower (bench/web-budget).
 */
export function RowMenu(props: {
  machine: Machine;
  onEdit: () => void;
  onToggle: () => void;
  onDelete: () => void;
  /** Wake-on-LAN (not offered for a machine that waits for approval). */
  onWake: () => void;
}) {
  const [open, setOpen] = useState(false);
  const trigger = (
    <ActionIcon
      variant="subtle"
      aria-label={`Actions for ${props.machine.name}`}
      onClick={() => setOpen(true)}
    >
      <IconDots size={16} />
    </ActionIcon>
  );
  if (!open) return trigger;
  return (
    <Menu opened onChange={setOpen} position="bottom-end" withinPortal>
      <Menu.Target>{trigger}</Menu.Target>
      <Menu.Dropdown>
        <Menu.Item leftSection={<IconPencil size={14} />} onClick={props.onEdit}>
          Edit
        </Menu.Item>
        {!props.machine.pending && (
          <Menu.Item leftSection={<IconPower size={14} />} onClick={props.onWake}>
            Wake (Wake-on-LAN)
          </Menu.Item>
        )}
        <Menu.Item onClick={props.onToggle}>{props.machine.enabled ? 'Disable' : 'Enable'}</Menu.Item>
        <Menu.Item color="red" leftSection={<IconTrash size={14} />} onClick={props.onDelete}>
          Delete
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}
