import { Button, Card, Group, Skeleton, Stack, Text, Title } from '@mantine/core';
import type { Job } from '@ggnet/contracts';
import { useApiMutation, useJobs } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { JobProgress, jobLabel } from '../../components/job-progress';
import { QueryState } from '../../components/query-state';
import { keys } from '../../live/apply-event';

/** Running and queued jobs with their progress; operators may cancel one. */
export function JobsCard() {
  const canCancel = useCan('operator');
  const cancel = useApiMutation<string, Job>(
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
      <QueryState
        query={running}
        loading={<Skeleton h={40} />}
        isEmpty={() => jobs.length === 0}
        empty={
          <Text c="dimmed" size="sm">
            No jobs running.
          </Text>
        }
      >
        {() => (
          <Stack gap="sm">
            {jobs.map((j) => (
              <div key={j.id}>
                <Group justify="space-between" wrap="nowrap">
                  <Text size="sm" fw={500}>
                    {jobLabel(j)}
                  </Text>
                  {canCancel && !j.cancelRequested && (
                    <Button
                      size="compact-xs"
                      variant="subtle"
                      color="red"
                      onClick={() => cancel.mutate(j.id)}
                    >
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
      </QueryState>
    </Card>
  );
}
