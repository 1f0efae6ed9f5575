import { useState, type ReactNode } from 'react';
import { Modal, Text } from '@mantine/core';
import { ModalActions } from './modal-actions';

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
      <ModalActions
        onCancel={props.onClose}
        label={props.confirmLabel ?? 'Confirm'}
        color={props.color ?? 'red'}
        loading={busy}
        onConfirm={async () => {
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
        mt="lg"
      />
    </Modal>
  );
}
