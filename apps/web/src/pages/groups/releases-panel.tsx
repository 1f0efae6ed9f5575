import { useState } from 'react';
import {
  Badge,
  Button,
  Card,
  Group as Row,
  MultiSelect,
  Select,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { Group, Image, ImageRelease, ImageVersion, RingAction, RingRelease } from '@ggnet/contracts';
import { api } from '../../api/client';
import { useApiMutation, useVersions } from '../../api/queries';
import { QueryState } from '../../components/query-state';
import { TableHead } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';

export const releaseKey = (imageId: string | null) => [...keys.groups, 'release', imageId] as const;

/** Staged releases of one image: which version each group boots, what runs now, release / promote / roll back. */
export function ReleasesPanel(props: { images: Image[]; groups: Group[]; canWrite: boolean }) {
  const [imageId, setImageId] = useState<string | null>(props.images[0]?.id ?? null);
  const current = imageId ?? props.images[0]?.id ?? null;
  const state = useQuery({
    queryKey: releaseKey(current),
    queryFn: ({ signal }) => api<ImageRelease>(`/images/${current}/release`, { signal }),
    enabled: !!current,
  });
  const versions = useVersions(current);
  const [versionId, setVersionId] = useState<string | null>(null);
  const [groupIds, setGroupIds] = useState<string[]>([]);
  const release = useApiMutation<RingRelease, ImageRelease>(
    (body) => ({ path: `/images/${current}/release`, method: 'POST', body }),
    [keys.groups, keys.machines],
  );
  const act = useApiMutation<RingAction & { action: 'promote' | 'rollback' }, ImageRelease>(
    ({ action, versionId: v }) => ({
      path: `/images/${current}/release/${action}`,
      method: 'POST',
      body: { versionId: v },
    }),
    [keys.groups, keys.machines, keys.images],
  );
  const vlist: ImageVersion[] = versions.data?.items ?? [];
  const label = (id: string | null) => {
    if (!id) return 'none';
    const v = vlist.find((x) => x.id === id);
    return v ? `v${v.number}` : '…';
  };
  const rings = [
    ...new Set((state.data?.groups ?? []).filter((g) => g.source === 'ring').map((g) => g.versionId!)),
  ];
  const runningText = (r: Array<{ versionId: string; count: number }>) =>
    r.length ? r.map((x) => `${x.count} on ${label(x.versionId)}`).join(', ') : 'none';
  return (
    <Card withBorder data-testid="releases-panel">
      <Stack>
        <Row justify="space-between">
          <Title order={4}>Staged releases</Title>
          <Select
            aria-label="Image"
            w={240}
            data={props.images.map((i) => ({ value: i.id, label: i.name }))}
            value={current}
            onChange={setImageId}
            allowDeselect={false}
          />
        </Row>
        {!current ? (
          <Text c="dimmed" size="sm">
            No images yet.
          </Text>
        ) : (
          <QueryState query={state}>
            {(st) => (
              <Stack>
                <Text size="sm">
                  Published to everyone: <b>{label(st.publishedVersionId)}</b>. Machines in no group running
                  it now: {runningText(st.others)}.
                </Text>
                <Table fz="sm" data-testid="release-groups">
                  <TableHead columns={['Group', 'Boots next', 'Machines on this image', 'Running now']} />
                  <Table.Tbody>
                    {st.groups.map((g) => (
                      <Table.Tr key={g.groupId} data-group={g.name} data-source={g.source}>
                        <Table.Td>{g.name}</Table.Td>
                        <Table.Td>
                          {label(g.versionId)}{' '}
                          {g.source === 'ring' ? (
                            <Badge size="xs" color="orange" variant="light">
                              ring
                            </Badge>
                          ) : (
                            <Badge size="xs" color="gray" variant="light">
                              published
                            </Badge>
                          )}
                        </Table.Td>
                        <Table.Td>{g.machines}</Table.Td>
                        <Table.Td>{runningText(g.running)}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
                {props.canWrite && (
                  <>
                    {rings.map((v) => (
                      <Row key={v} gap="xs">
                        <Text size="sm">
                          Ring of <b>{label(v)}</b>:
                        </Text>
                        <Button
                          size="xs"
                          color="teal"
                          loading={act.isPending}
                          onClick={() =>
                            void act
                              .mutateAsync({ action: 'promote', versionId: v })
                              .then(() => notifyOk(`${label(v)} published to everyone`))
                          }
                        >
                          Promote to everyone
                        </Button>
                        <Button
                          size="xs"
                          variant="light"
                          color="red"
                          loading={act.isPending}
                          onClick={() =>
                            void act
                              .mutateAsync({ action: 'rollback', versionId: v })
                              .then(() => notifyOk(`ring of ${label(v)} rolled back`))
                          }
                        >
                          Roll back
                        </Button>
                      </Row>
                    ))}
                    <Row gap="xs" align="flex-end">
                      <Select
                        label="Release version"
                        w={160}
                        data={vlist
                          .filter((v) => v.state === 'ready' && !v.published)
                          .map((v) => ({ value: v.id, label: `v${v.number}` }))}
                        value={versionId}
                        onChange={setVersionId}
                      />
                      <MultiSelect
                        label="to groups"
                        w={320}
                        data={props.groups.map((g) => ({ value: g.id, label: g.name }))}
                        value={groupIds}
                        onChange={setGroupIds}
                      />
                      <Button
                        disabled={!versionId || !groupIds.length}
                        loading={release.isPending}
                        onClick={() =>
                          void release.mutateAsync({ versionId: versionId!, groupIds }).then(() => {
                            notifyOk(`${label(versionId)} released to ${groupIds.length} group(s)`);
                            setGroupIds([]);
                          })
                        }
                      >
                        Release to ring
                      </Button>
                    </Row>
                  </>
                )}
              </Stack>
            )}
          </QueryState>
        )}
      </Stack>
    </Card>
  );
}
