import type { ReactNode } from 'react';
import { Button, Group, type MantineSpacing } from '@mantine/core';

/** The foot of a dialog: Cancel, then its action (a spinner while it runs, a submit button in a form). */
export function ModalActions(props: {
  onCancel: () => void;
  label: ReactNode;
  onConfirm?: () => unknown;
  loading?: boolean;
  disabled?: boolean;
  color?: string;
  /** The action submits the dialog's form instead of calling onConfirm. */
  submit?: boolean;
  mt?: MantineSpacing;
}) {
  return (
    <Group justify="flex-end" mt={props.mt}>
      <Button variant="default" onClick={props.onCancel}>
        Cancel
      </Button>
      <Button
        type={props.submit ? 'submit' : 'button'}
        color={props.color}
        loading={props.loading}
        disabled={props.disabled}
        onClick={props.submit ? undefined : () => void props.onConfirm?.()}
      >
        {props.label}
      </Button>
    </Group>
  );
}
