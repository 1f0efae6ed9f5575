import { useState, type ReactNode } from 'react';
import { Button, Group, Modal, Text } from '@mantine/core';

/** A small "are you sure" dialog; `onConfirm` may be async (the button shows a spinner). */
export function ConfirmDialog(props: {
  opened: boolean;
  title: string;
  message: ReactNode;
  confirmLabel?: string;
  color?: string;
  onConfirm: () => Promise<unknown> | void;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  return (
    <Modal opened={props.opened} onClose={props.onClose} title={props.title} centered>
      <Text size="sm">{props.message}</Text>
      <Group justify="flex-end" mt="lg">
        <Button variant="default" onClick={props.onClose}>
          Cancel
        </Button>
        <Button
          color={props.color ?? 'red'}
          loading={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await props.onConfirm();
              props.onClose();
            } catch {
              // the mutation's error toast tells the user; keep the dialog open
            } finally {
              setBusy(false);
            }
          }}
        >
          {props.confirmLabel ?? 'Confirm'}
        </Button>
      </Group>
    </Modal>
  );
}
