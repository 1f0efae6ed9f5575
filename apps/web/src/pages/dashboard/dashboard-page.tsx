import { Anchor, Box, SimpleGrid, Stack } from '@mantine/core';
import type { Machine } from '@ggnet/contracts';
import { useSessions } from '../../api/queries';
import { EmptyState, PageHeader } from '../../components/ui';
import { BootActivity, useBootEvents } from './boot-activity';
import { BootStatsCard } from './boot-stats-card';
import { BootTimesCard } from './boot-times-card';
import { JobsCard } from './jobs-card';
import { LiveSessionsCard } from './live-sessions-card';
import { MachineCountCard } from './machine-count-card';
import { MaintenanceRequestsCard } from './maintenance-requests';
import { RecentEvents } from './recent-events';
import { ReadCacheCard } from './read-cache-card';
import { StorageCard } from './storage-card';
import { TrafficCard } from './traffic-card';

const STATUS_CARDS: Array<{ status: Machine['status']; label: string; color: string }> = [
  { status: 'online', label: 'Online', color: 'teal' },
  { status: 'booting', label: 'Booting', color: 'blue' },
  { status: 'offline', label: 'Offline', color: 'gray' },
  { status: 'pending', label: 'Pending approval', color: 'yellow' },
];

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
        <LiveSessionsCard total={live.data?.total} pending={live.isPending} />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, md: 2 }} mb="md">
        <BootTimesCard />
        <Stack>
          <StorageCard />
          <ReadCacheCard />
          <JobsCard />
        </Stack>
      </SimpleGrid>
      <Box mb="md">
        <TrafficCard />
      </Box>
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
