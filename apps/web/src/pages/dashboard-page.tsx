import { useMemo, useSyncExternalStore } from 'react';
import {
  Anchor,
  Button,
  Card,
  Group,
  Progress,
  SimpleGrid,
  Skeleton,
  Stack,
  Table,
  Text,
  Title,
  Tooltip,
} from '@mantine/core';
import { Link } from '@tanstack/react-router';
import type { Machine } from '@ggnet/contracts';
import { useApiMutation, useJobs, useMachineCount, useOptional, useSessions } from '../api/queries';
import { useCan } from '../api/use-auth';
import { BootChart } from '../components/boot-chart';
import { TimelineBar } from '../components/boot-timeline';
import { JobProgress, jobLabel } from '../components/job-progress';
import { EmptyState, PageHeader, QueryError } from '../components/ui';
import { keys } from '../live/apply-event';
import { MaintenanceRequestsCard } from '../components/maintenance-requests';
import { eventFeed } from '../live/event-feed';
import { bootBuckets, overallMedian } from '../lib/boot-stats';
import { refusalLabel } from '../lib/boot-refusal';
import { formatBytes, formatRelative, formatSeconds } from '../lib/format';
import { useNow } from '../lib/use-now';

const STATUS_CARDS: Array<{ status: Machine['status']; label: string; color: string }> = [
  { status: 'online', label: 'Online', color: 'teal' },
  { status: 'booting', label: 'Booting', color: 'blue' },
  { status: 'offline', label: 'Offline', color: 'gray' },
  { status: 'pending', label: 'Pending approval', color: 'yellow' },
];

function MachineCountCard(props: { status: Machine['status']; label: string; color: string }) {
  const q = useMachineCount(props.status);
  return (
    <Link
      to="/machines"
      search={{ status: props.status }}
      style={{ textDecoration: 'none', color: 'inherit' }}
    >
      <Card withBorder padding="md" data-testid={`count-${props.status}`}>
        <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
          {props.label}
        </Text>
        {q.isPending ? (
          <Skeleton h={32} w={60} mt={4} />
        ) : (
          <Text fz={32} fw={700} c={props.color} data-testid="count-value">
            {q.data ?? '—'}
          </Text>
        )}
      </Card>
    </Link>
  );
}

/** GET /api/v1/storage (StorageSummary of the storage module); read loosely until it is on every server. */
interface StorageInfo {
  backend?: string;
  warning?: string | null;
  totalBytes?: number;
  freeBytes?: number;
  reserveBytes?: number;
  belowReserve?: boolean;
  versionBytes?: number;
  writebackBytes?: number;
  writebackCount?: number;
}

/** Sections of the storage bar: image versions, writebacks, other data, then the reserve inside the free space. */
export function storageSections(s: StorageInfo) {
  const total = s.totalBytes ?? 0;
  const free = s.freeBytes ?? 0;
  const used = Math.max(0, total - free);
  const versions = Math.min(used, s.versionBytes ?? 0);
  const writebacks = Math.min(used - versions, s.writebackBytes ?? 0);
  const other = used - versions - writebacks;
  const reserve = Math.min(free, s.reserveBytes ?? 0);
  const pct = (n: number) => (total ? (n / total) * 100 : 0);
  return { total, free, used, versions, writebacks, other, reserve, pct };
}

function StorageCard() {
  const q = useOptional<StorageInfo>(keys.storage, '/storage');
  const s = q.data;
  return (
    <Card withBorder padding="md" data-testid="storage-card">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Storage</Title>
        {s?.backend && (
          <Text size="xs" c="dimmed">
            {s.backend}
          </Text>
        )}
      </Group>
      {q.isPending ? (
        <Skeleton h={40} />
      ) : q.isError ? (
        <QueryError error={q.error} retry={() => void q.refetch()} />
      ) : !s || s.totalBytes === undefined || s.freeBytes === undefined ? (
        <Text c="dimmed" size="sm">
          Storage accounting is not available from this server yet.
        </Text>
      ) : (
        (() => {
          const x = storageSections(s);
          const below = s.belowReserve ?? x.free < (s.reserveBytes ?? 0);
          return (
            <Stack gap={6}>
              <Progress.Root size="xl">
                <Tooltip label={`image versions ${formatBytes(x.versions)}`}>
                  <Progress.Section value={x.pct(x.versions)} color="indigo" />
                </Tooltip>
                <Tooltip
                  label={`writebacks ${formatBytes(x.writebacks)}${s.writebackCount !== undefined ? ` (${s.writebackCount})` : ''}`}
                >
                  <Progress.Section value={x.pct(x.writebacks)} color="cyan" />
                </Tooltip>
                <Tooltip label={`other data ${formatBytes(x.other)}`}>
                  <Progress.Section value={x.pct(x.other)} color="gray" />
                </Tooltip>
                <Tooltip label={`reserve ${formatBytes(s.reserveBytes ?? 0)}`}>
                  <Progress.Section value={x.pct(x.reserve)} color={below ? 'red' : 'orange.3'} />
                </Tooltip>
              </Progress.Root>
              <Group justify="space-between">
                <Text size="sm">
                  {formatBytes(x.used)} used of {formatBytes(x.total)}
                </Text>
                <Text size="sm" c="dimmed">
                  {formatBytes(x.free)} free · reserve {formatBytes(s.reserveBytes ?? 0)}
                </Text>
              </Group>
              {below && (
                <Text size="sm" c="red">
                  Free space is below the reserve: new boots are refused until space is freed.
                </Text>
              )}
              {s.warning && (
                <Text size="sm" c="orange">
                  {s.warning}
                </Text>
              )}
            </Stack>
          );
        })()
      )}
    </Card>
  );
}

function JobsCard() {
  const canCancel = useCan('operator');
  const cancel = useApiMutation<string>(
    (id) => ({ path: `/jobs/${id}/cancel`, method: 'POST' }),
    [keys.jobs],
  );
  const running = useJobs({ state: 'running', limit: 20 });
  const queued = useJobs({ state: 'queued', limit: 20 });
  const jobs = [...(running.data?.items ?? []), ...(queued.data?.items ?? [])];
  return (
    <Card withBorder padding="md" data-testid="jobs-card">
      <Title order={5} mb="xs">
        Running jobs
      </Title>
      {running.isPending ? (
        <Skeleton h={40} />
      ) : jobs.length === 0 ? (
        <Text c="dimmed" size="sm">
          No jobs running.
        </Text>
      ) : (
        <Stack gap="sm">
          {jobs.map((j) => (
            <div key={j.id}>
              <Group justify="space-between" wrap="nowrap">
                <Text size="sm" fw={500}>
                  {jobLabel(j)}
                </Text>
                {canCancel && !j.cancelRequested && (
                  <Button size="compact-xs" variant="subtle" color="red" onClick={() => cancel.mutate(j.id)}>
                    Cancel
                  </Button>
                )}
                {j.cancelRequested && (
                  <Text size="xs" c="dimmed">
                    cancelling…
                  </Text>
                )}
              </Group>
              <JobProgress job={j} />
            </div>
          ))}
        </Stack>
      )}
    </Card>
  );
}

function BootTimesCard() {
  const now = useNow();
  const q = useSessions({ limit: 500, sort: '-startedAt' });
  // recompute once a minute, not every tick
  const minute = Math.floor(now / 60_000);
  const items = q.data?.items;
  const buckets = useMemo(() => bootBuckets(items ?? [], minute * 60_000 + 59_999), [items, minute]);
  const med = useMemo(() => overallMedian(items ?? [], minute * 60_000 + 59_999), [items, minute]);
  const total = buckets.reduce((a, b) => a + b.count, 0);
  return (
    <Card withBorder padding="md">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Boot times, last 24 h</Title>
        <Text size="sm" c="dimmed">
          {total} boots · median {formatSeconds(med)}
        </Text>
      </Group>
      {q.isPending ? (
        <Skeleton h={140} />
      ) : q.isError ? (
        <QueryError error={q.error} />
      ) : total === 0 && !buckets.some((b) => b.failed) ? (
        <EmptyState
          title="No boots in the last 24 hours"
          message="Each boot of a machine adds to this chart."
        />
      ) : (
        <BootChart buckets={buckets} />
      )}
    </Card>
  );
}

/** GET /api/v1/boot/stats (network boot module): server-side percentiles from the boot timelines. */
interface BootStatsInfo {
  sessions: number;
  completed: number;
  p50Ms: number | null;
  p95Ms: number | null;
  phasesP50Ms: Record<'dhcp' | 'tftp' | 'script' | 'iscsi' | 'os', number | null>;
  slowestMachines: Array<{
    machineId: string;
    machineName: string | null;
    boots: number;
    p50Ms: number | null;
    maxMs: number | null;
  }>;
}

const PHASE_LABELS = {
  dhcp: 'DHCP',
  tftp: 'TFTP',
  script: 'Boot script',
  iscsi: 'iSCSI login',
  os: 'OS up',
} as const;

function BootStatsCard() {
  // the window moves in 10-minute steps so that the query key (and the cache) stays put in between
  const tenMinutes = Math.floor(useNow() / 600_000);
  const since = new Date(tenMinutes * 600_000 - 86_400_000).toISOString();
  const q = useOptional<BootStatsInfo>(keys.boot, '/boot/stats', { since, top: 5 });
  const s = q.data;
  if (!s || !s.completed) return null;
  let t = 0;
  const phases = (['dhcp', 'tftp', 'script', 'iscsi', 'os'] as const)
    .filter((k) => s.phasesP50Ms[k] !== null)
    .map((k) => {
      const start = t;
      t += s.phasesP50Ms[k]!;
      return { key: k, label: PHASE_LABELS[k], startMs: start, endMs: t };
    });
  return (
    <Card withBorder padding="md" mb="md" data-testid="boot-stats">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Where boot time goes</Title>
        <Text size="sm" c="dimmed">
          p50 {formatSeconds(s.p50Ms === null ? null : s.p50Ms / 1000)} · p95{' '}
          {formatSeconds(s.p95Ms === null ? null : s.p95Ms / 1000)} · {s.completed}/{s.sessions} boots reached
          the OS
        </Text>
      </Group>
      <TimelineBar phases={phases} />
      {s.slowestMachines.length > 0 && (
        <Table fz="sm" verticalSpacing={2} mt="sm">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Slowest machines</Table.Th>
              <Table.Th>Boots</Table.Th>
              <Table.Th>Median</Table.Th>
              <Table.Th>Slowest</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {s.slowestMachines.map((m) => (
              <Table.Tr key={m.machineId}>
                <Table.Td>{m.machineName ?? m.machineId}</Table.Td>
                <Table.Td>{m.boots}</Table.Td>
                <Table.Td>{formatSeconds(m.p50Ms === null ? null : m.p50Ms / 1000)}</Table.Td>
                <Table.Td>{formatSeconds(m.maxMs === null ? null : m.maxMs / 1000)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

interface BootEventRow {
  id: number;
  at: string;
  mac: string | null;
  machineId: string | null;
  kind: string;
  detail: Record<string, unknown>;
}

const useBootEvents = () => useOptional<{ items: BootEventRow[] }>(keys.boot, '/boot/events', { limit: 15 });

/** Boot activity (DHCP, TFTP, script, iSCSI, OS up) from GET /api/v1/boot/events, also of unknown PCs. */
function BootActivity({ q }: { q: ReturnType<typeof useBootEvents> }) {
  const now = useNow();
  if (!q.data) return null;
  return (
    <Card withBorder padding="md" data-testid="boot-activity">
      <Title order={5} mb="xs">
        Boot activity
      </Title>
      {q.data.items.length === 0 ? (
        <Text c="dimmed" size="sm">
          No PC has asked for a boot yet.
        </Text>
      ) : (
        <Table fz="sm" verticalSpacing={4}>
          <Table.Tbody>
            {q.data.items.map((e) => (
              <Table.Tr key={e.id} data-kind={e.kind}>
                <Table.Td c="dimmed" w={110}>
                  {formatRelative(e.at, now)}
                </Table.Td>
                <Table.Td
                  c={e.kind === 'refused' ? 'red' : undefined}
                  fw={e.kind === 'refused' ? 600 : undefined}
                >
                  {e.kind.replace('_', ' ')}
                  {e.kind === 'refused' && typeof e.detail.reason === 'string' && (
                    <Text span size="xs" c="red">
                      {' '}
                      {refusalLabel(e.detail.reason)}
                    </Text>
                  )}
                  {typeof e.detail.result === 'string' && (
                    <Text span size="xs" c="dimmed">
                      {' '}
                      {e.detail.result.replace('_', ' ')}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td ff="monospace">{e.mac ?? ''}</Table.Td>
                <Table.Td c="dimmed">{typeof e.detail.ip === 'string' ? e.detail.ip : ''}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

function RecentEvents() {
  const items = useSyncExternalStore(eventFeed.subscribe, eventFeed.get);
  const now = useNow();
  return (
    <Card withBorder padding="md" data-testid="recent-events">
      <Title order={5} mb="xs">
        Recent events
      </Title>
      {items.length === 0 ? (
        <Text c="dimmed" size="sm">
          Nothing has happened since this page opened. Events appear here live.
        </Text>
      ) : (
        <Table fz="sm" verticalSpacing={4}>
          <Table.Tbody>
            {items.slice(0, 15).map((e) => (
              <Table.Tr key={e.seq}>
                <Table.Td c="dimmed" w={110}>
                  {formatRelative(new Date(e.at).toISOString(), now)}
                </Table.Td>
                <Table.Td>{e.type}</Table.Td>
                <Table.Td c="dimmed">{eventSubject(e.data) ?? e.id}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

function eventSubject(data: unknown): string | null {
  if (!data || typeof data !== 'object') return null;
  const d = data as Record<string, unknown>;
  for (const k of ['name', 'machineName', 'username', 'iqn', 'type'])
    if (typeof d[k] === 'string') return d[k];
  return null;
}

export function DashboardPage() {
  const live = useSessions({ live: 'true', limit: 1 });
  const bootEvents = useBootEvents();
  return (
    <>
      <PageHeader title="Dashboard" description="What the boot network is doing right now." />
      <MaintenanceRequestsCard />
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 5 }} mb="md">
        {STATUS_CARDS.map((c) => (
          <MachineCountCard key={c.status} {...c} />
        ))}
        <Link to="/sessions" style={{ textDecoration: 'none', color: 'inherit' }}>
          <Card withBorder padding="md" data-testid="count-sessions">
            <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
              Active sessions
            </Text>
            {live.isPending ? (
              <Skeleton h={32} w={60} mt={4} />
            ) : (
              <Text fz={32} fw={700} c="indigo" data-testid="count-value">
                {live.data?.total ?? '—'}
              </Text>
            )}
          </Card>
        </Link>
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, md: 2 }} mb="md">
        <BootTimesCard />
        <Stack>
          <StorageCard />
          <JobsCard />
        </Stack>
      </SimpleGrid>
      <BootStatsCard />
      <SimpleGrid cols={{ base: 1, md: bootEvents.data ? 2 : 1 }}>
        <BootActivity q={bootEvents} />
        <RecentEvents />
      </SimpleGrid>
      {live.isError && (
        <EmptyState
          title="Could not load sessions"
          message={<Anchor onClick={() => void live.refetch()}>Retry</Anchor>}
        />
      )}
    </>
  );
}
