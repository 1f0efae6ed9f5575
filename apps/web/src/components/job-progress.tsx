import { Group, Progress, Stack, Text } from '@mantine/core';
import type { Job } from '@ggnet/contracts';
import { formatBytes, formatDuration, formatRate } from '../lib/format';

/** Progress of a job: bar, percent, stage, speed and ETA when the job reports them. */
export function JobProgress({ job, compact = false }: { job: Job; compact?: boolean }) {
  const p = job.progress;
  const pct = p ? Math.max(0, Math.min(100, p.percent)) : 0;
  return (
    <Stack gap={2} data-testid="job-progress">
      <Progress value={pct} animated={job.state === 'running'} size={compact ? 'sm' : 'md'} />
      <Group gap="xs" justify="space-between" wrap="nowrap">
        <Text size="xs" c="dimmed">
          {job.state === 'queued' ? 'queued' : `${pct.toFixed(pct < 10 ? 1 : 0)} %`}
          {p?.stage ? ` · ${p.stage}` : ''}
        </Text>
        {!compact && p && (
          <Text size="xs" c="dimmed">
            {p.bytesDone !== null && p.bytesTotal !== null
              ? `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)} · `
              : ''}
            {formatRate(p.bytesPerSec)}
            {p.etaSec !== null ? ` · ${formatDuration(p.etaSec)} left` : ''}
          </Text>
        )}
      </Group>
    </Stack>
  );
}

/** A human name for a job type: image.convert -> "Convert image". */
export function jobLabel(job: Job): string {
  const name = typeof job.payload.name === 'string' ? ` ${job.payload.name}` : '';
  const [what, verb] = job.type.split(/[._-]/);
  if (!verb) return `${job.type}${name}`;
  return `${verb[0]!.toUpperCase()}${verb.slice(1)} ${what}${name}`;
}
