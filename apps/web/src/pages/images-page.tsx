import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import {
  ActionIcon,
  Alert,
  Anchor,
  Badge,
  Button,
  Card,
  Drawer,
  Group,
  Menu,
  Modal,
  Progress,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Textarea,
  Tooltip,
} from '@mantine/core';
import { Dropzone } from '@mantine/dropzone';
import '@mantine/dropzone/styles.css';
import {
  IconCloudUpload,
  IconDots,
  IconLock,
  IconLockOpen,
  IconPencil,
  IconPlayerPause,
  IconPlayerPlay,
  IconRocket,
  IconTrash,
  IconX,
} from '@tabler/icons-react';
import { Link } from '@tanstack/react-router';
import type { Image, ImageUpdate, ImageVersion, Job, VersionUpdate } from '@ggnet/contracts';
import { useApiMutation, useImages, useJobs, useVersions } from '../api/queries';
import { useCan } from '../api/use-auth';
import { ConfirmDialog } from '../components/confirm';
import { JobProgress } from '../components/job-progress';
import { EmptyState, PageHeader, QueryError, StatusBadge, TableSkeleton } from '../components/ui';
import { keys } from '../live/apply-event';
import { formatBytes, formatDateTime, formatDuration, formatRate, formatRelative } from '../lib/format';
import { notifyError, notifyOk } from '../lib/notify';
import type { PreviousUpload } from 'tus-js-client';
import {
  discardInterrupted,
  interruptedUploads,
  serverOffset,
  uploads,
  type UploadItem,
} from './images/upload-store';

const ACCEPT = ['.vhdx', '.vhd', '.vmdk', '.qcow2', '.vdi', '.raw', '.img'];

/** The running job that works on an image (conversion), matched by any payload field naming it. */
export function jobForImage(jobs: Job[], image: Image): Job | undefined {
  return jobs.find((j) => Object.values(j.payload).includes(image.id));
}

function UploadRow({ u, image, job }: { u: UploadItem; image: Image | undefined; job: Job | undefined }) {
  const pct = u.size ? (u.bytesUploaded / u.size) * 100 : 0;
  const eta = u.speed > 0 ? (u.size - u.bytesUploaded) / u.speed : null;
  return (
    <Card withBorder padding="sm" data-testid="upload-row">
      <Group justify="space-between" mb={4} wrap="nowrap">
        <Text size="sm" fw={500} truncate>
          {u.filename}{' '}
          {u.resumed && (
            <Badge size="xs" variant="light">
              resumed
            </Badge>
          )}
        </Text>
        <Group gap={4} wrap="nowrap">
          {u.state === 'uploading' && (
            <ActionIcon variant="subtle" aria-label="Pause upload" onClick={() => uploads.pause(u.key)}>
              <IconPlayerPause size={16} />
            </ActionIcon>
          )}
          {(u.state === 'paused' || u.state === 'error') && (
            <ActionIcon variant="subtle" aria-label="Resume upload" onClick={() => uploads.resume(u.key)}>
              <IconPlayerPlay size={16} />
            </ActionIcon>
          )}
          <ActionIcon
            variant="subtle"
            color="red"
            aria-label={u.state === 'done' ? 'Dismiss' : 'Cancel upload'}
            onClick={() => (u.state === 'done' ? uploads.dismiss(u.key) : void uploads.cancel(u.key))}
          >
            <IconX size={16} />
          </ActionIcon>
        </Group>
      </Group>
      <Progress
        value={pct}
        animated={u.state === 'uploading'}
        color={u.state === 'error' ? 'red' : undefined}
      />
      <Group justify="space-between" mt={4}>
        <Text size="xs" c="dimmed" data-testid="upload-percent">
          {u.state === 'done'
            ? image?.state === 'ready'
              ? 'uploaded and converted: ready to boot'
              : image?.state === 'failed'
                ? `conversion failed${image.error ? `: ${image.error}` : ''}`
                : 'uploaded — converting on the server'
            : `${pct.toFixed(1)} % · ${formatBytes(u.bytesUploaded)} of ${formatBytes(u.size)}`}
        </Text>
        {u.state === 'uploading' && (
          <Text size="xs" c="dimmed">
            {formatRate(u.speed)}
            {eta !== null ? ` · ${formatDuration(eta)} left` : ''}
          </Text>
        )}
        {u.state === 'paused' && <Text size="xs">paused</Text>}
      </Group>
      {u.state === 'done' && job && image?.state !== 'ready' && <JobProgress job={job} />}
      {u.error && (
        <Text size="xs" c="red" mt={4}>
          {u.error}
        </Text>
      )}
    </Card>
  );
}

function InterruptedUploads({ refreshKey }: { refreshKey: number }) {
  const [items, setItems] = useState<Array<PreviousUpload & { offset: number | null }>>([]);
  const active = useSyncExternalStore(uploads.subscribe, uploads.get);
  useEffect(() => {
    let gone = false;
    void (async () => {
      const prev = await interruptedUploads();
      const withOffsets = await Promise.all(
        prev.map(async (p) => ({
          ...p,
          offset: p.uploadUrl ? await serverOffset(p.uploadUrl).catch(() => null) : null,
        })),
      );
      if (!gone) setItems(withOffsets);
    })();
    return () => {
      gone = true;
    };
  }, [refreshKey, active.length]);
  const waiting = items.filter((p) => !uploads.isActive(p.metadata.filename ?? '', p.size ?? -1));
  if (!waiting.length) return null;
  return (
    <Alert color="yellow" title="Interrupted uploads" data-testid="interrupted-uploads">
      <Stack gap={6}>
        {waiting.map((p) => (
          <Group key={p.urlStorageKey} justify="space-between" wrap="nowrap">
            <Text size="sm">
              <b>{p.metadata.filename}</b> —{' '}
              {p.offset !== null && p.size
                ? `${((p.offset / p.size) * 100).toFixed(1)} % on the server`
                : 'no longer on the server'}
              {' · '}drop the same file again to resume.
            </Text>
            <Button
              size="xs"
              variant="subtle"
              color="red"
              onClick={async () => {
                await discardInterrupted(p);
                setItems((xs) => xs.filter((x) => x.urlStorageKey !== p.urlStorageKey));
              }}
            >
              Discard
            </Button>
          </Group>
        ))}
      </Stack>
    </Alert>
  );
}

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

  if (q.isPending) return <TableSkeleton rows={3} cols={6} />;
  if (q.isError) return <QueryError error={q.error} retry={() => void q.refetch()} />;
  if (!q.data.items.length)
    return <EmptyState title="No versions yet" message="Upload a disk image to create the first version." />;
  return (
    <>
      <Table.ScrollContainer minWidth={640}>
        <Table verticalSpacing={6} data-testid="versions-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>#</Table.Th>
              <Table.Th>State</Table.Th>
              <Table.Th>Comment</Table.Th>
              <Table.Th>Size</Table.Th>
              <Table.Th>Created</Table.Th>
              {canWrite && <Table.Th />}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {q.data.items.map((v) => (
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
                            leftSection={v.protected ? <IconLockOpen size={14} /> : <IconLock size={14} />}
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
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setEditing(null)}>
              Cancel
            </Button>
            <Button
              loading={patch.isPending}
              onClick={async () => {
                await patch.mutateAsync({ v: editing!, body: { comment } });
                setEditing(null);
              }}
            >
              Save
            </Button>
          </Group>
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
  );
}

function ImageDrawer({
  image,
  onClose,
  canWrite,
}: {
  image: Image | null;
  onClose: () => void;
  canWrite: boolean;
}) {
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState('');
  const [desc, setDesc] = useState('');
  const [osType, setOsType] = useState<Image['osType']>('windows');
  const [nameError, setNameError] = useState<string | undefined>();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const update = useApiMutation<ImageUpdate, Image>(
    (body) => ({ path: `/images/${image?.id}`, method: 'PATCH', body }),
    [keys.images],
    {
      silent: true,
    },
  );
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
              <Button
                size="xs"
                variant="default"
                leftSection={<IconPencil size={14} />}
                onClick={() => {
                  setName(image.name);
                  setDesc(image.description);
                  setOsType(image.osType);
                  setNameError(undefined);
                  setRenaming(true);
                }}
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
          <Modal opened={renaming} onClose={() => setRenaming(false)} title="Image details">
            <Stack>
              <TextInput
                label="Name"
                value={name}
                onChange={(e) => setName(e.currentTarget.value)}
                error={nameError}
              />
              <Select
                label="Operating system"
                data={['windows', 'linux', 'other']}
                value={osType}
                onChange={(v) => v && setOsType(v as Image['osType'])}
                allowDeselect={false}
              />
              <Textarea
                label="Description"
                value={desc}
                onChange={(e) => setDesc(e.currentTarget.value)}
                autosize
                minRows={2}
              />
              <Group justify="flex-end">
                <Button variant="default" onClick={() => setRenaming(false)}>
                  Cancel
                </Button>
                <Button
                  loading={update.isPending}
                  onClick={async () => {
                    try {
                      await update.mutateAsync({ name, description: desc, osType });
                      setRenaming(false);
                    } catch (e) {
                      const err = e as { fieldErrors?: () => Record<string, string>; detail?: string };
                      setNameError(err.fieldErrors?.().name ?? err.detail);
                    }
                  }}
                >
                  Save
                </Button>
              </Group>
            </Stack>
          </Modal>
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

export function ImagesPage() {
  const canWrite = useCan('operator');
  const list = useImages({ limit: 500, sort: 'name' });
  const running = useJobs({ state: 'running', limit: 100 });
  const queued = useJobs({ state: 'queued', limit: 100 });
  const active = useSyncExternalStore(uploads.subscribe, uploads.get);
  const [openId, setOpenId] = useState<string | null>(null);
  const [refreshKey, setRefreshKey] = useState(0);
  const jobs = useMemo(
    () => [...(running.data?.items ?? []), ...(queued.data?.items ?? [])],
    [running.data, queued.data],
  );
  const open = list.data?.items.find((i) => i.id === openId) ?? null;

  return (
    <>
      <PageHeader title="Images" description="Master disks that machines boot, with their versions." />
      {canWrite && (
        <Stack mb="md" gap="sm">
          <Dropzone
            onDrop={(files) => {
              for (const f of files) void uploads.add(f, () => setRefreshKey((k) => k + 1));
            }}
            onReject={(rejected) =>
              notifyError(
                new Error(
                  `${rejected.map((r) => r.file.name).join(', ')}: not a disk image GGnet converts (${ACCEPT.join(' ')})`,
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
                  VHDX, VHD, VMDK, QCOW2, VDI or RAW. Uploads resume after a lost connection or a page reload.
                </Text>
              </div>
            </Group>
          </Dropzone>
          <InterruptedUploads refreshKey={refreshKey} />
          {active.map((u) => {
            const image = list.data?.items.find((i) => i.id === u.imageId);
            return (
              <UploadRow key={u.key} u={u} image={image} job={image ? jobForImage(jobs, image) : undefined} />
            );
          })}
        </Stack>
      )}
      <Card withBorder padding={0}>
        {list.isPending ? (
          <TableSkeleton cols={7} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <EmptyState
            title="No images yet"
            message={
              canWrite
                ? 'Drop a VHDX, VMDK or QCOW2 above to create the first image.'
                : 'An operator has not uploaded any image yet.'
            }
          />
        ) : (
          <Table.ScrollContainer minWidth={800}>
            <Table highlightOnHover verticalSpacing={8} data-testid="images-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th>OS</Table.Th>
                  <Table.Th>Size</Table.Th>
                  <Table.Th>Versions</Table.Th>
                  <Table.Th>Machines</Table.Th>
                  <Table.Th>Updated</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.items.map((img) => {
                  const job = jobForImage(jobs, img);
                  return (
                    <Table.Tr
                      key={img.id}
                      style={{ cursor: 'pointer' }}
                      onClick={() => setOpenId(img.id)}
                      data-image={img.name}
                    >
                      <Table.Td>
                        <Text size="sm" fw={500}>
                          {img.name}
                        </Text>
                        {img.description && (
                          <Text size="xs" c="dimmed" lineClamp={1}>
                            {img.description}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td miw={180}>
                        <StatusBadge status={img.state} />
                        {job &&
                          (img.state === 'converting' ||
                            img.state === 'uploaded' ||
                            job.state === 'running') && <JobProgress job={job} compact />}
                        {img.state === 'failed' && img.error && (
                          <Text size="xs" c="red" lineClamp={2}>
                            {img.error}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td fz="sm">{img.osType}</Table.Td>
                      <Table.Td fz="sm">{formatBytes(img.sizeBytes)}</Table.Td>
                      <Table.Td fz="sm">{img.versionCount}</Table.Td>
                      <Table.Td fz="sm">
                        <Anchor
                          renderRoot={(props) => (
                            <Link to="/machines" search={{ imageId: img.id }} {...props} />
                          )}
                          onClick={(e: React.MouseEvent) => e.stopPropagation()}
                          size="sm"
                        >
                          {img.machineCount}
                        </Anchor>
                      </Table.Td>
                      <Table.Td fz="sm">
                        <Tooltip label={formatDateTime(img.updatedAt)}>
                          <span>{formatRelative(img.updatedAt)}</span>
                        </Tooltip>
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Card>
      <ImageDrawer image={open} onClose={() => setOpenId(null)} canWrite={canWrite} />
    </>
  );
}
