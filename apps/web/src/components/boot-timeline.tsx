import { Box, Group, Skeleton, Text, Tooltip } from '@mantine/core';
import type { Session } from '@ggnet/contracts';
import { useTimeline } from '../api/queries';
import { formatSeconds } from '../lib/format';
import { bootPhases, type Phase } from '../lib/timeline';
import { useNow } from '../lib/use-now';

const COLORS: Record<string, string> = {
  dhcp: 'var(--mantine-color-grape-5)',
  tftp: 'var(--mantine-color-blue-5)',
  script: 'var(--mantine-color-cyan-5)',
  iscsi: 'var(--mantine-color-teal-5)',
  os: 'var(--mantine-color-green-6)',
};

export function TimelineBar({ phases }: { phases: Phase[] }) {
  if (!phases.length)
    return (
      <Text size="sm" c="dimmed">
        No boot events recorded.
      </Text>
    );
  const start = phases[0]!.startMs;
  const end = Math.max(...phases.map((p) => p.endMs));
  const total = Math.max(1, end - start);
  return (
    <Box data-testid="boot-timeline">
      <Group gap={2} wrap="nowrap" h={22} style={{ borderRadius: 4, overflow: 'hidden' }}>
        {phases.map((p) => {
          const d = (p.endMs - p.startMs) / 1000;
          return (
            <Tooltip key={p.key} label={`${p.label}: ${formatSeconds(d)}`}>
              <Box
                h="100%"
                style={{
                  flexGrow: Math.max(0.02, (p.endMs - p.startMs) / total),
                  flexBasis: 0,
                  background: COLORS[p.key] ?? 'gray',
                  minWidth: 4,
                }}
                data-phase={p.key}
              />
            </Tooltip>
          );
        })}
      </Group>
      <Group gap="md" mt={4}>
        {phases.map((p) => (
          <Group key={p.key} gap={4}>
            <Box w={8} h={8} style={{ background: COLORS[p.key], borderRadius: 2 }} />
            <Text size="xs" c="dimmed">
              {p.label} {formatSeconds((p.endMs - p.startMs) / 1000)}
            </Text>
          </Group>
        ))}
        <Text size="xs" fw={600}>
          total {formatSeconds(total / 1000)}
        </Text>
      </Group>
    </Box>
  );
}

/** A session's boot drawn as a bar: DHCP -> TFTP -> script -> iSCSI login -> OS up. */
export function SessionTimeline({ session }: { session: Session }) {
  const q = useTimeline(session.id);
  const now = useNow();
  if (q.isPending) return <Skeleton h={22} />;
  return <TimelineBar phases={bootPhases(q.data ?? [], session, now)} />;
}
