import { Badge, Button, Group } from '@mantine/core';
import type { MachineBulk } from '@ggnet/contracts';

export type BulkAction = MachineBulk['action'];

/**
 * Actions on the selected machines: enable, disable and approve at once; assigning an image,
 * setting the boot mode and deleting ask first (`onAsk`).
 */
export function BulkBar(props: {
  count: number;
  onRun: (action: 'enable' | 'disable' | 'approve') => void;
  onAsk: (action: 'assignImage' | 'setBootMode' | 'moveToGroup' | 'delete') => void;
  onClear: () => void;
  /** Wake-on-LAN of the selection. */
  onWake: () => void;
}) {
  return (
    <Group px="sm" pb="sm" gap="xs" data-testid="bulk-bar">
      <Badge variant="filled">{props.count} selected</Badge>
      <Button size="xs" variant="light" onClick={() => props.onRun('enable')}>
        Enable
      </Button>
      <Button size="xs" variant="light" onClick={() => props.onRun('disable')}>
        Disable
      </Button>
      <Button size="xs" variant="light" color="yellow" onClick={() => props.onRun('approve')}>
        Approve
      </Button>
      <Button size="xs" variant="light" color="green" onClick={props.onWake}>
        Wake
      </Button>
      <Button size="xs" variant="light" onClick={() => props.onAsk('assignImage')}>
        Assign image…
      </Button>
      <Button size="xs" variant="light" onClick={() => props.onAsk('setBootMode')}>
        Set boot mode…
      </Button>
      <Button size="xs" variant="light" onClick={() => props.onAsk('moveToGroup')}>
        Move to group…
      </Button>
      <Button size="xs" variant="light" color="red" onClick={() => props.onAsk('delete')}>
        Delete
      </Button>
      <Button size="xs" variant="subtle" onClick={props.onClear}>
        Clear
      </Button>
    </Group>
  );
}
