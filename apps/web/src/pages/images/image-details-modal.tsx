import { useEffect, useState } from 'react';
import { Modal, Select, Stack, Textarea, TextInput } from '@mantine/core';
import { OS_TYPES, UEFI_BOOT_FILE_RE, type Image, type ImageUpdate } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { ModalActions } from '../../components/modal-actions';

/** Rename an image, change its operating system, description and UEFI boot file. */
export function ImageDetailsModal(props: { image: Image; opened: boolean; onClose: () => void }) {
  const { image } = props;
  const [name, setName] = useState(image.name);
  const [desc, setDesc] = useState(image.description);
  const [osType, setOsType] = useState<Image['osType']>(image.osType);
  const [uefi, setUefi] = useState(image.uefiBootFile ?? '');
  const [nameError, setNameError] = useState<string | undefined>();
  const [uefiError, setUefiError] = useState<string | undefined>();
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
    setUefi(image.uefiBootFile ?? '');
    setNameError(undefined);
    setUefiError(undefined);
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
        <TextInput
          label="UEFI boot file"
          description="Only if UEFI PCs fail with 'No such file' at sanboot: the bootloader on the disk's EFI partition, e.g. \EFI\Microsoft\Boot\bootmgfw.efi. Empty: iPXE's default \EFI\BOOT\BOOTX64.EFI."
          placeholder="\EFI\BOOT\BOOTX64.EFI"
          value={uefi}
          onChange={(e) => setUefi(e.currentTarget.value)}
          error={uefiError}
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
            const file = uefi.trim();
            if (file && (!UEFI_BOOT_FILE_RE.test(file) || !/\.efi$/i.test(file))) {
              setUefiError(
                'a path such as \\EFI\\Microsoft\\Boot\\bootmgfw.efi (backslashes, ending in .efi)',
              );
              return;
            }
            try {
              await update.mutateAsync({ name, description: desc, osType, uefiBootFile: file || null });
              props.onClose();
            } catch (e) {
              const fe = isApiError(e) ? e.fieldErrors() : {};
              if (fe.uefiBootFile) setUefiError(fe.uefiBootFile);
              else setNameError(isApiError(e) ? (fe.name ?? e.detail) : String(e));
            }
          }}
        />
      </Stack>
    </Modal>
  );
}
