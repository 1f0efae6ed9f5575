import { ActionIcon, Badge, Card, Group, Progress, Text } from '@mantine/core';
import { IconPlayerPause, IconPlayerPlay, IconX } from '@tabler/icons-react';
import type { Image, Job } from '@ggnet/contracts';
import { JobProgress } from '../../components/job-progress';
import { formatBytes, formatDuration, formatRate } from '../../lib/format';
import { uploads, type UploadItem } from './upload-store';

/** One upload of this browser: progress, speed and time left, then the conversion on the server. */
export function UploadRow({
  u,
  image,
  job,
}: {
  u: UploadItem;
  image: Image | undefined;
  job: Job | undefined;
}) {
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
