import { useState } from 'react';
import {
  ActionIcon,
  Badge,
  Button,
  Group,
  Menu,
  Modal,
  Stack,
  Table,
  Text,
  Textarea,
  Tooltip,
} from '@mantine/core';
import { IconDots, IconLock, IconLockOpen, IconPencil, IconRocket, IconTrash } from '@tabler/icons-react';
import type { Image, ImageVersion, VersionUpdate } from '@ggnet/contracts';
import { useApiMutation, useVersions } from '../../api/queries';
import { ConfirmDialog } from '../../components/confirm';
import { QueryTable } from '../../components/query-state';
import { StatusBadge, TableHead } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { formatBytes, formatRelative } from '../../lib/format';
import { notifyOk } from '../../lib/notify';
import { ModalActions } from '../../components/modal-actions';

/** The versions of an image: publish / roll back, protect, comment, delete (operators). */
export function VersionsTable({ image, canWrite }: { image: Image; canWrite: boolean }) {
  const q = useVersions(image.id);
  const [editing, setEditing] = useState<ImageVersion | null>(null);
  const [comment, setComment] = useState('');
  const [deleting, setDeleting] = useState<ImageVersion | null>(null);
  const patch = useApiMutation<{ v: ImageVersion; body: VersionUpdate }>(
    ({ v, body }) => ({ path: `/images/${image.id}/versions/${v.id}`, method: 'PATCH', body }),
    [keys.images],
  );
  const publish = useApiMutation<ImageVersion>(
    (v) => ({ path: `/images/${image.id}/versions/${v.id}/publish`, method: 'POST' }),
    [keys.images],
  );
  const del = useApiMutation<ImageVersion>(
    (v) => ({ path: `/images/${image.id}/versions/${v.id}`, method: 'DELETE' }),
    [keys.images],
  );
  const published = q.data?.items.find((v) => v.published);

  return (
    <QueryTable
      query={q}
      cols={6}
      rows={3}
      emptyTitle="No versions yet"
      emptyMessage="Upload a disk image to create the first version."
    >
      {(data) => (
        <>
          <Table.ScrollContainer minWidth={640}>
            <Table verticalSpacing={6} data-testid="versions-table">
              <TableHead columns={['#', 'State', 'Comment', 'Size', 'Created', canWrite && '']} />
              <Table.Tbody>
                {data.items.map((v) => (
                  <Table.Tr key={v.id} data-version={v.number}>
                    <Table.Td>
                      <Group gap={4} wrap="nowrap">
                        <Text fw={600}>v{v.number}</Text>
                        {v.published && (
                          <Badge size="xs" color="teal">
                            published
                          </Badge>
                        )}
                        {v.protected && (
                          <Tooltip label="Protected: retention never deletes it">
                            <IconLock size={14} />
                          </Tooltip>
                        )}
                        {v.inUse && (
                          <Badge size="xs" variant="outline">
                            in use
                          </Badge>
                        )}
                      </Group>
                    </Table.Td>
                    <Table.Td>
                      <StatusBadge status={v.state} />
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">
                        {v.comment || (
                          <Text span c="dimmed">
                            —
                          </Text>
                        )}
                      </Text>
                      {v.author && (
                        <Text size="xs" c="dimmed">
                          by {v.author}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td fz="sm">
                      {formatBytes(v.sizeBytes)}
                      {v.allocatedBytes !== null && (
                        <Text size="xs" c="dimmed">
                          {formatBytes(v.allocatedBytes)} on disk
                        </Text>
                      )}
                      {v.state === 'ready' && (
                        <Text size="xs" c="dimmed" ff="monospace" title={v.sha256 ?? undefined}>
                          {v.sha256 ? `sha256 ${v.sha256.slice(0, 12)}…` : 'sha256 being computed'}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td fz="sm">{formatRelative(v.createdAt)}</Table.Td>
                    {canWrite && (
                      <Table.Td>
                        <Group gap={4} wrap="nowrap" justify="flex-end">
                          {!v.published && v.state === 'ready' && (
                            <Button
                              size="compact-xs"
                              variant="light"
                              leftSection={<IconRocket size={12} />}
                              loading={publish.isPending && publish.variables?.id === v.id}
                              onClick={async () => {
                                await publish.mutateAsync(v);
                                notifyOk(`v${v.number} is now published`);
                              }}
                            >
                              {published && published.number > v.number ? 'Roll back' : 'Publish'}
                            </Button>
                          )}
                          <Menu position="bottom-end" withinPortal>
                            <Menu.Target>
                              <ActionIcon variant="subtle" aria-label={`Actions for v${v.number}`}>
                                <IconDots size={16} />
                              </ActionIcon>
                            </Menu.Target>
                            <Menu.Dropdown>
                              <Menu.Item
                                leftSection={<IconPencil size={14} />}
                                onClick={() => {
                                  setEditing(v);
                                  setComment(v.comment);
                                }}
                              >
                                Edit comment
                              </Menu.Item>
                              <Menu.Item
                                leftSection={
                                  v.protected ? <IconLockOpen size={14} /> : <IconLock size={14} />
                                }
                                onClick={() => patch.mutate({ v, body: { protected: !v.protected } })}
                              >
                                {v.protected ? 'Unprotect' : 'Protect'}
                              </Menu.Item>
                              <Menu.Item
                                color="red"
                                leftSection={<IconTrash size={14} />}
                                disabled={v.published || v.inUse || v.protected}
                                onClick={() => setDeleting(v)}
                              >
                                {v.published
                                  ? 'Delete (published: no)'
                                  : v.inUse
                                    ? 'Delete (in use: no)'
                                    : v.protected
                                      ? 'Delete (protected: no)'
                                      : 'Delete'}
                              </Menu.Item>
                            </Menu.Dropdown>
                          </Menu>
                        </Group>
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <Modal opened={!!editing} onClose={() => setEditing(null)} title={`Comment of v${editing?.number}`}>
            <Stack>
              <Textarea
                value={comment}
                onChange={(e) => setComment(e.currentTarget.value)}
                autosize
                minRows={3}
                maxLength={1000}
              />
              <ModalActions
                onCancel={() => setEditing(null)}
                label="Save"
                loading={patch.isPending}
                onConfirm={async () => {
                  await patch.mutateAsync({ v: editing!, body: { comment } });
                  setEditing(null);
                }}
              />
            </Stack>
          </Modal>
          <ConfirmDialog
            opened={!!deleting}
            title="Delete version"
            message={`Delete v${deleting?.number} of ${image.name}? Its disk file is removed.`}
            confirmLabel="Delete"
            onClose={() => setDeleting(null)}
            onConfirm={() => del.mutateAsync(deleting!)}
          />
        </>
      )}
    </QueryTable>
  );
}
