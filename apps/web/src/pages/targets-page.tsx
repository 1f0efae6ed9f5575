import { useMemo, useState } from 'react';
import {
  ActionIcon,
  Alert,
  Badge,
  Button,
  Card,
  Checkbox,
  Code,
  CopyButton,
  Group,
  Modal,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Tooltip,
} from '@mantine/core';
import { IconCheck, IconCopy, IconEye, IconEyeOff, IconPlus, IconTrash } from '@tabler/icons-react';
import type { Target, TargetCreate } from '@ggnet/contracts';
import { isApiError } from '../api/api-error';
import { api } from '../api/client';
import { useApiMutation, useImages, useMachines, useTargets } from '../api/queries';
import { useCan } from '../api/use-auth';
import { EmptyState, PageHeader, QueryError, StatusBadge, TableSkeleton } from '../components/ui';
import { keys } from '../live/apply-event';
import { formatBytes } from '../lib/format';
import { notifyError, notifyOk } from '../lib/notify';

/** Admins expose a fresh copy-on-write disk of a machine's image by hand (e.g. to attach it to a VM). */
function NewTargetModal(props: {
  opened: boolean;
  onClose: () => void;
  machines: Array<{ value: string; label: string }>;
  images: Array<{ value: string; label: string }>;
}) {
  const [machineId, setMachineId] = useState<string | null>(null);
  const [imageId, setImageId] = useState<string | null>(null);
  const [allowedAddress, setAllowedAddress] = useState('');
  const [mutualChap, setMutualChap] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Target | null>(null);
  const create = useApiMutation<TargetCreate, Target>(
    (body) => ({ path: '/targets', method: 'POST', body }),
    [keys.targets],
    { silent: true },
  );
  const close = () => {
    setCreated(null);
    setError(null);
    props.onClose();
  };
  return (
    <Modal opened={props.opened} onClose={close} title="New iSCSI target">
      {created ? (
        <Stack>
          <Alert color="teal">Target {created.iqn} is ready.</Alert>
          <Text size="sm">
            CHAP user <Code>{created.chapUser}</Code>, secret{' '}
            <Code data-testid="new-target-secret">{created.chapSecret ?? '—'}</Code>
          </Text>
          <Group justify="flex-end">
            <Button onClick={close}>Done</Button>
          </Group>
        </Stack>
      ) : (
        <Stack>
          <Select
            label="Machine"
            searchable
            data={props.machines}
            value={machineId}
            onChange={setMachineId}
            required
          />
          <Select
            label="Image"
            placeholder="the machine's boot image"
            clearable
            data={props.images}
            value={imageId}
            onChange={setImageId}
          />
          <TextInput
            label="Only from address"
            placeholder="any address"
            value={allowedAddress}
            onChange={(e) => setAllowedAddress(e.currentTarget.value)}
          />
          <Checkbox
            label="Mutual CHAP"
            checked={mutualChap}
            onChange={(e) => setMutualChap(e.currentTarget.checked)}
          />
          {error && (
            <Text c="red" size="sm" role="alert">
              {error}
            </Text>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button
              disabled={!machineId}
              loading={create.isPending}
              onClick={async () => {
                if (!machineId) return;
                setError(null);
                try {
                  const t = await create.mutateAsync({
                    machineId,
                    ...(imageId ? { imageId } : {}),
                    allowedAddress: allowedAddress.trim() || null,
                    mutualChap,
                  });
                  setCreated(t);
                } catch (e) {
                  setError(
                    isApiError(e)
                      ? e.status === 404 && e.detail.startsWith('no route')
                        ? 'This server cannot create targets by hand yet.'
                        : `${e.detail}${e.hint ? ` — ${e.hint}` : ''}`
                      : String(e),
                  );
                }
              }}
            >
              Create target
            </Button>
          </Group>
        </Stack>
      )}
    </Modal>
  );
}

/** CHAP secret: hidden; an admin can reveal it (GET /targets/{id}?reveal=true) and copy it. */
function ChapSecret({ target }: { target: Target }) {
  const isAdmin = useCan('admin');
  const [secret, setSecret] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!target.chapUser)
    return (
      <Text size="sm" c="dimmed">
        no CHAP
      </Text>
    );
  return (
    <Stack gap={2}>
      <Text size="sm" ff="monospace">
        {target.chapUser}
      </Text>
      <Group gap={4} wrap="nowrap">
        <Code data-testid="chap-secret">{secret ?? '••••••••••••'}</Code>
        {isAdmin && (
          <Tooltip label={secret ? 'Hide' : 'Reveal the secret (admins only)'}>
            <ActionIcon
              variant="subtle"
              size="sm"
              loading={busy}
              aria-label={secret ? 'Hide secret' : 'Reveal secret'}
              onClick={async () => {
                if (secret) return setSecret(null);
                setBusy(true);
                try {
                  const t = await api<Target>(`/targets/${target.id}`, { query: { reveal: 'true' } });
                  setSecret(t.chapSecret ?? '(none)');
                } catch (e) {
                  notifyError(e);
                } finally {
                  setBusy(false);
                }
              }}
            >
              {secret ? <IconEyeOff size={14} /> : <IconEye size={14} />}
            </ActionIcon>
          </Tooltip>
        )}
        {secret && (
          <CopyButton value={secret}>
            {({ copied, copy }) => (
              <ActionIcon variant="subtle" size="sm" onClick={copy} aria-label="Copy secret">
                {copied ? <IconCheck size={14} /> : <IconCopy size={14} />}
              </ActionIcon>
            )}
          </CopyButton>
        )}
      </Group>
    </Stack>
  );
}

export function TargetsPage() {
  const isAdmin = useCan('admin');
  const [creating, setCreating] = useState(false);
  const [removing, setRemoving] = useState<Target | null>(null);
  const [keepWriteback, setKeepWriteback] = useState(false);
  const remove = useApiMutation<{ id: string; keep: boolean }>(
    ({ id, keep }) => ({
      path: `/targets/${id}`,
      method: 'DELETE',
      query: { keepWriteback: keep ? 'true' : undefined },
    }),
    [keys.targets, keys.sessions],
  );
  const list = useTargets({ limit: 500 });
  const images = useImages();
  const machines = useMachines({ limit: 500 });
  const imageName = useMemo(
    () => new Map((images.data?.items ?? []).map((i) => [i.id, i.name])),
    [images.data],
  );
  const machineName = useMemo(
    () => new Map((machines.data?.items ?? []).map((m) => [m.id, m.name])),
    [machines.data],
  );
  return (
    <>
      <PageHeader
        title="iSCSI targets"
        description="The disks GGnet serves right now: one target per booted machine."
        actions={
          isAdmin && (
            <Button leftSection={<IconPlus size={16} />} onClick={() => setCreating(true)}>
              New target
            </Button>
          )
        }
      />
      <Card withBorder padding={0}>
        {list.isPending ? (
          <TableSkeleton cols={6} />
        ) : list.isError ? (
          <QueryError error={list.error} retry={() => void list.refetch()} />
        ) : list.data.items.length === 0 ? (
          <EmptyState
            title="No targets"
            message="A target is created when a machine boots and removed when its session ends."
          />
        ) : (
          <Table.ScrollContainer minWidth={980}>
            <Table verticalSpacing={8} data-testid="targets-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Target</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th>LUNs</Table.Th>
                  <Table.Th>ACL</Table.Th>
                  <Table.Th>CHAP</Table.Th>
                  <Table.Th>Connected</Table.Th>
                  {isAdmin && <Table.Th />}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.items.map((t) => (
                  <Table.Tr key={t.id}>
                    <Table.Td>
                      <Text size="sm" ff="monospace">
                        {t.iqn}
                      </Text>
                      <Text size="xs" c="dimmed">
                        {t.machineId ? (machineName.get(t.machineId) ?? t.machineId) : 'manual'} · {t.backend}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <StatusBadge status={t.state} />
                      {t.error && (
                        <Text size="xs" c="red">
                          {t.error}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <Stack gap={2}>
                        {t.luns.map((l) => (
                          <Text size="xs" key={l.lun}>
                            LUN {l.lun} · {l.kind} · {l.imageId ? (imageName.get(l.imageId) ?? 'image') : '—'}{' '}
                            · {formatBytes(l.sizeBytes)}
                          </Text>
                        ))}
                      </Stack>
                    </Table.Td>
                    <Table.Td>
                      <Text size="xs" ff="monospace">
                        {t.initiatorIqn}
                      </Text>
                      <Text size="xs" c="dimmed">
                        {t.allowedAddress ? `from ${t.allowedAddress}` : 'any address'}
                        {t.mutualChap ? ' · mutual CHAP' : ''}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <ChapSecret target={t} />
                    </Table.Td>
                    <Table.Td>
                      {t.connections.length === 0 ? (
                        <Text size="sm" c="dimmed">
                          none
                        </Text>
                      ) : (
                        t.connections.map((c) => (
                          <Badge
                            key={`${c.initiator}-${c.address}`}
                            variant="light"
                            color="teal"
                            size="sm"
                            title={c.initiator}
                          >
                            {c.address}
                          </Badge>
                        ))
                      )}
                    </Table.Td>
                    {isAdmin && (
                      <Table.Td>
                        <Tooltip label="Remove the target (a PC using it loses its disk)">
                          <ActionIcon
                            variant="subtle"
                            color="red"
                            aria-label={`Remove ${t.iqn}`}
                            onClick={() => setRemoving(t)}
                          >
                            <IconTrash size={16} />
                          </ActionIcon>
                        </Tooltip>
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Card>
      <NewTargetModal
        opened={creating}
        onClose={() => setCreating(false)}
        machines={(machines.data?.items ?? []).map((m) => ({ value: m.id, label: m.name }))}
        images={(images.data?.items ?? []).map((i) => ({ value: i.id, label: i.name }))}
      />
      <Modal opened={!!removing} onClose={() => setRemoving(null)} title="Remove target">
        <Stack>
          <Text size="sm">
            Remove {removing?.iqn}?{' '}
            {removing?.connections.length ? 'A client is logged in right now and loses its disk.' : ''}
          </Text>
          <Checkbox
            label="Keep its writeback (the disk's changes) instead of discarding it"
            checked={keepWriteback}
            onChange={(e) => setKeepWriteback(e.currentTarget.checked)}
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setRemoving(null)}>
              Cancel
            </Button>
            <Button
              color="red"
              loading={remove.isPending}
              onClick={async () => {
                await remove.mutateAsync({ id: removing!.id, keep: keepWriteback });
                notifyOk('Target removed');
                setRemoving(null);
              }}
            >
              Remove
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}
