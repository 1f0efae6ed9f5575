import { Group, Text } from '@mantine/core';
import { Dropzone } from '@mantine/dropzone';
import '@mantine/dropzone/styles.css';
import { IconCloudUpload } from '@tabler/icons-react';
import { notifyError } from '../../lib/notify';

/** File endings of the disk images GGnet converts. */
export const ACCEPT = ['.vhdx', '.vhd', '.vmdk', '.qcow2', '.vdi', '.raw', '.img', '.iso'];

/** Where an operator drops (or picks) disk images to upload; other files are refused with a toast. */
export function UploadDropzone({ onFiles }: { onFiles: (files: File[]) => void }) {
  return (
    <Dropzone
      onDrop={onFiles}
      onReject={(rejected) =>
        notifyError(
          new Error(
            `${rejected.map((r) => r.file.name).join(', ')}: not a disk image or an ISO GGnet takes (${ACCEPT.join(' ')})`,
          ),
          'File not accepted',
        )
      }
      accept={{ 'application/octet-stream': ACCEPT }}
      maxFiles={4}
      multiple
      data-testid="upload-dropzone"
    >
      <Group justify="center" gap="md" mih={90} style={{ pointerEvents: 'none' }}>
        <IconCloudUpload size={36} stroke={1.4} />
        <div>
          <Text fw={500}>Drop a disk image here, or click to choose one</Text>
          <Text size="sm" c="dimmed">
            VHDX, VHD, VMDK, QCOW2, VDI or RAW; an installer ISO becomes an install medium. Uploads resume
            after a lost connection or a page reload.
          </Text>
        </div>
      </Group>
    </Dropzone>
  );
}
