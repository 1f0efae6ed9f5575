import { useState } from 'react';
import { Alert, Anchor, Badge, Button, Drawer, Group, Stack, Text } from '@mantine/core';
import { IconDeviceDesktop, IconPencil, IconTrash } from '@tabler/icons-react';
import { Link } from '@tanstack/react-router';
import type { Image } from '@ggnet/contracts';
import { useApiMutation } from '../../api/queries';
import { ConfirmDialog } from '../../components/confirm';
import { StatusBadge } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { formatBytes } from '../../lib/format';
import { ImageDetailsModal } from './image-details-modal';
import { VersionsTable } from './versions-table';

/** Everything about one image: its source, the machines that boot it, its versions. */
export function ImageDrawer({
  image,
  onClose,
  canWrite,
}: {
  image: Image | null;
  onClose: () => void;
  canWrite: boolean;
}) {
  const [renaming, setRenaming] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const del = useApiMutation<string>((id) => ({ path: `/images/${id}`, method: 'DELETE' }), [keys.images]);
  return (
    <Drawer
      opened={!!image}
      onClose={onClose}
      position="right"
      size="xl"
      title={image?.name}
      data-testid="image-drawer"
    >
      {image && (
        <Stack>
          <Group gap="xs">
            <StatusBadge status={image.state} />
            <Badge variant="outline">{image.osType}</Badge>
            <Text size="sm" c="dimmed">
              {formatBytes(image.sizeBytes)} in {image.versionCount} version
              {image.versionCount === 1 ? '' : 's'}
            </Text>
          </Group>
          {image.description && <Text size="sm">{image.description}</Text>}
          {image.error && (
            <Alert color="red" title="Conversion failed">
              {image.error}
            </Alert>
          )}
          <Text size="sm">
            Source: {image.sourceFilename ?? '—'}{' '}
            {image.sourceFormat ? `(${image.sourceFormat}, ${formatBytes(image.sourceSize)})` : ''}
          </Text>
          <Text size="sm">
            Used by{' '}
            <Anchor renderRoot={(props) => <Link to="/machines" search={{ imageId: image.id }} {...props} />}>
              {image.machineCount} machine{image.machineCount === 1 ? '' : 's'}
            </Anchor>
          </Text>
          {canWrite && (
            <Group>
              {image.publishedVersionId && (
                <Button
                  size="xs"
                  variant="light"
                  leftSection={<IconDeviceDesktop size={14} />}
                  renderRoot={(props) => (
                    <Link to="/images/$imageId/console" params={{ imageId: image.id }} {...props} />
                  )}
                >
                  Edit in a VM
                </Button>
              )}
              <Button
                size="xs"
                variant="default"
                leftSection={<IconPencil size={14} />}
                onClick={() => setRenaming(true)}
              >
                Rename / describe
              </Button>
              <Button
                size="xs"
                variant="light"
                color="red"
                leftSection={<IconTrash size={14} />}
                onClick={() => setConfirmDelete(true)}
              >
                Delete image
              </Button>
            </Group>
          )}
          <Text fw={600} mt="sm">
            Versions
          </Text>
          <VersionsTable image={image} canWrite={canWrite} />
          <ImageDetailsModal image={image} opened={renaming} onClose={() => setRenaming(false)} />
          <ConfirmDialog
            opened={confirmDelete}
            title="Delete image"
            message={`Delete ${image.name} and all its versions? Machines that boot it will have no image.`}
            confirmLabel="Delete"
            onClose={() => setConfirmDelete(false)}
            onConfirm={async () => {
              await del.mutateAsync(image.id);
              onClose();
            }}
          />
        </Stack>
      )}
    </Drawer>
  );
}
