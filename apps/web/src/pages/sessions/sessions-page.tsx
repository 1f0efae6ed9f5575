import { Fragment, useMemo, useState } from 'react';
import {
  ActionIcon,
  Button,
  Card,
  Checkbox,
  Group,
  Modal,
  SegmentedControl,
  Stack,
  Table,
  Text,
  Textarea,
  Tooltip,
} from '@mantine/core';
import { IconChevronDown, IconChevronRight, IconGitMerge, IconPlayerStop } from '@tabler/icons-react';
import { useNavigate, useSearch } from '@tanstack/react-router';
import type { ApplyWriteback, ImageVersion, Session } from '@ggnet/contracts';
import { isApiError } from '../api/api-error';
import { useApiMutation, useImages, useSessions } from '../api/queries';
import { useCan } from '../api/use-auth';
import { SessionTimeline } from '../components/boot-timeline';
import { ConfirmDialog } from '../components/confirm';
import { EmptyState, PageHeader, QueryError, StatusBadge, TableSkeleton } from '../components/ui';
import { keys } from '../live/apply-event';
import { formatDuration, formatRelative, formatSeconds, secondsBetween } from '../lib/format';
import { notifyOk } from '../lib/notify';
import { useNow } from '../lib/use-now';

function ApplyModal({ session, onClose }: { session: Session | null; onClose: () => void }) {
  const [comment, setComment] = useState('');
  const [publish, setPublish] = useState(false);
  const [force, setForce] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const apply = useApiMutation<{ id: string } & ApplyWriteback, ImageVersion>(
    ({ id, ...body }) => ({ path: `/sessions/${id}/apply`, method: 'POST', body }),
    [keys.sessions, keys.images],
    { silent: true },
  );
  return (
    <Modal
      opened={!!session}
      onClose={onClose}
      title={`Apply the changes of ${session?.machineName ?? 'this machine'}`}
    >
      <Stack>
        <Text size="sm" c="dimmed">
          The writes of this maintenance session become a new version of the image. The session ends.
        </Text>
        <Textarea
          label="What changed"
          placeholder="e.g. Windows updates of November, new game launcher"
          value={comment}
          onChange={(e) => setComment(e.currentTarget.value)}
          error={error}
          autosize
          minRows={2}
          required
        />
        <Checkbox
          label="Publish the new version at once"
          checked={publish}
          onChange={(e) => setPublish(e.currentTarget.checked)}
        />
        <Checkbox
          label="The PC is still running: take a crash-consistent snapshot anyway"
          description="Better: shut the PC down first, then apply"
          checked={force}
          onChange={(e) => setForce(e.currentTarget.checked)}
        />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button
            loading={apply.isPending}
            onClick={async () => {
              if (!comment.trim()) return setError('a comment says what changed');
              try {
                await apply.mutateAsync({ id: session!.id, comment: comment.trim(), publish, force });
                notifyOk('A new version is being created from the session');
                setComment('');
                onClose();
              } catch (e) {
                setError(
                  isApiError(e) &&
                    e.status === 404 &&
                    e.code === 'not_found' &&
                    e.detail.startsWith('no route')
                    ? 'This server cannot apply writebacks yet.'
                    : isApiError(e)
                      ? `${e.detail}${e.hint ? ` — ${e.hint}` : ''}`
                      : String(e),
                );
              }
            }}
          >
            Apply as new version
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

export function SessionsPage() {
  const search: { all?: boolean } = useSearch({ strict: false });
  const navigate = useNavigate();
  const showAll = !!search.all;
  const canWrite = useCan('operator');
  const now = useNow();
  const list = useSessions(
    showAll ? { limit: 200, sort: '-startedAt' } : { live: 'true', limit: 500, sort: '-startedAt' },
  );
  const images = useImages();
  const imageName = useMemo(
    () => new Map((images.data?.items ?? []).map((i) => [i.id, i.name])),
    [images.data],
  );
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [stopping, setStopping] = useState<Session | null>(null);
  const [applying, setApplying] = useState<Session | null>(null);
  const stop = useApiMutation<string>(
    (id) => ({ path: `/sessions/${id}/stop`, method: 'POST' }),
    [keys.sessions, keys.machines],
  );
  const toggle = (id: string) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  return (
    <>
      <PageHeader
        title="Sessions"
        description="One session per boot: the machine's own copy-on-write disk and its iSCSI target."
        actions={
          <SegmentedControl
            value={showAll ? 'all' : 'live'}
            onChange={(v) => void navigate({ to: '/sessions', search: v === 'all' ? { all: true } : {} })}
            data={[
              { value: 'live', label: 'Live' },
              { value: 'all', label: 'Recent' },
            ]}
          />
        }
      />
      <Card withBorder padding={0}>
        {list.isPending ? (
          <TableSkeleton cols={7} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <EmptyState
            title={showAll ? 'No sessions yet' : 'No machine is booted right now'}
            message="A session starts when a machine asks GGnet for its boot script; it appears here at once."
          />
        ) : (
          <Table.ScrollContainer minWidth={860}>
            <Table verticalSpacing={6} data-testid="sessions-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th w={30} />
                  <Table.Th>Machine</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th>Mode</Table.Th>
                  <Table.Th>Image</Table.Th>
                  <Table.Th>Client IP</Table.Th>
                  <Table.Th>Started</Table.Th>
                  <Table.Th>Boot time</Table.Th>
                  <Table.Th>Up for</Table.Th>
                  {canWrite && <Table.Th />}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.items.map((s) => (
                  <Fragment key={s.id}>
                    <Table.Tr data-session={s.machineName ?? s.machineId}>
                      <Table.Td>
                        <ActionIcon
                          variant="subtle"
                          size="sm"
                          aria-label="Show boot timeline"
                          onClick={() => toggle(s.id)}
                        >
                          {open.has(s.id) ? <IconChevronDown size={14} /> : <IconChevronRight size={14} />}
                        </ActionIcon>
                      </Table.Td>
                      <Table.Td fw={500} fz="sm">
                        {s.machineName ?? s.machineId}
                      </Table.Td>
                      <Table.Td>
                        <StatusBadge status={s.state} />
                        {s.endReason && (
                          <Text span size="xs" c="dimmed">
                            {' '}
                            {s.endReason}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td fz="sm">{s.mode}</Table.Td>
                      <Table.Td fz="sm">{s.imageId ? (imageName.get(s.imageId) ?? '…') : '—'}</Table.Td>
                      <Table.Td fz="sm">{s.clientIp ?? '—'}</Table.Td>
                      <Table.Td fz="sm">{formatRelative(s.startedAt, now)}</Table.Td>
                      <Table.Td fz="sm">
                        {s.activeAt
                          ? formatSeconds(secondsBetween(s.startedAt, s.activeAt))
                          : s.state === 'ended'
                            ? '—'
                            : 'booting…'}
                      </Table.Td>
                      <Table.Td fz="sm">
                        {s.state === 'ended'
                          ? formatDuration(secondsBetween(s.startedAt, s.endedAt))
                          : formatDuration(secondsBetween(s.activeAt ?? s.startedAt, now))}
                      </Table.Td>
                      {canWrite && (
                        <Table.Td>
                          {s.state !== 'ended' && (
                            <Group gap={4} wrap="nowrap" justify="flex-end">
                              {s.mode === 'maintenance' && (
                                <Tooltip label="Turn this session's writes into a new image version">
                                  <Button
                                    size="compact-xs"
                                    variant="light"
                                    leftSection={<IconGitMerge size={12} />}
                                    onClick={() => setApplying(s)}
                                  >
                                    Apply
                                  </Button>
                                </Tooltip>
                              )}
                              <Button
                                size="compact-xs"
                                variant="light"
                                color="red"
                                leftSection={<IconPlayerStop size={12} />}
                                onClick={() => setStopping(s)}
                              >
                                Stop
                              </Button>
                            </Group>
                          )}
                        </Table.Td>
                      )}
                    </Table.Tr>
                    {open.has(s.id) && (
                      <Table.Tr>
                        <Table.Td />
                        <Table.Td colSpan={canWrite ? 9 : 8}>
                          <SessionTimeline session={s} />
                          {s.error && (
                            <Text size="sm" c="red" mt={4}>
                              {s.error}
                            </Text>
                          )}
                        </Table.Td>
                      </Table.Tr>
                    )}
                  </Fragment>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Card>
      <ConfirmDialog
        opened={!!stopping}
        title="Stop session"
        message={`Stop the session of ${stopping?.machineName}? Its iSCSI disk goes away: a running PC loses its disk.`}
        confirmLabel="Stop session"
        onClose={() => setStopping(null)}
        onConfirm={() => stop.mutateAsync(stopping!.id)}
      />
      <ApplyModal session={applying} onClose={() => setApplying(null)} />
    </>
  );
}
