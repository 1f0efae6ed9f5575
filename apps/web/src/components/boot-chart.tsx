import { Box, Group, Text, Tooltip } from '@mantine/core';
import type { BootBucket } from '../lib/boot-stats';
import { formatSeconds } from '../lib/format';

/** Bars of the median boot time per hour (height) with the number of boots as a label. */
export function BootChart({ buckets, height = 140 }: { buckets: BootBucket[]; height?: number }) {
  const max = Math.max(10, ...buckets.map((b) => b.maxSec ?? 0));
  return (
    <Box data-testid="boot-chart">
      <Group
        gap={3}
        align="flex-end"
        h={height}
        wrap="nowrap"
        style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}
      >
        {buckets.map((b) => {
          const h = b.medianSec === null ? 0 : Math.max(3, (b.medianSec / max) * (height - 16));
          const hour = new Date(b.start).getHours();
          return (
            <Tooltip
              key={b.start}
              label={
                b.count
                  ? `${String(hour).padStart(2, '0')}:00 — ${b.count} boot${b.count === 1 ? '' : 's'}, median ${formatSeconds(b.medianSec)}, slowest ${formatSeconds(b.maxSec)}${b.failed ? `, ${b.failed} failed` : ''}`
                  : `${String(hour).padStart(2, '0')}:00 — no boots${b.failed ? `, ${b.failed} failed` : ''}`
              }
            >
              <Box
                style={{
                  flex: 1,
                  display: 'flex',
                  flexDirection: 'column',
                  justifyContent: 'flex-end',
                  height: '100%',
                }}
                aria-label={`${hour}:00 ${b.count} boots`}
              >
                {b.count > 0 && (
                  <Text size="9px" ta="center" c="dimmed">
                    {b.count}
                  </Text>
                )}
                <Box
                  h={h}
                  bg={b.failed && !b.count ? 'red.5' : 'indigo.5'}
                  style={{ borderRadius: '3px 3px 0 0', minHeight: b.failed && !b.count ? 3 : undefined }}
                />
              </Box>
            </Tooltip>
          );
        })}
      </Group>
      <Group justify="space-between" mt={4}>
        <Text size="xs" c="dimmed">
          24 h ago
        </Text>
        <Text size="xs" c="dimmed">
          now
        </Text>
      </Group>
    </Box>
  );
}
