import { Group, Stack, Text } from '@mantine/core';
import { TRAFFIC_HISTORY, type Traffic, type TrafficPoint } from '@ggnet/contracts';
import { Sparkline } from '../../components/sparkline';
import { formatBytes, formatRate } from '../../lib/format';

/** A machine's live iSCSI traffic: read ↓ and write ↑ rates, a sparkline, the totals in the title. */
export function TrafficCell(props: { traffic: Traffic | undefined; history: TrafficPoint[] | undefined }) {
  const t = props.traffic;
  if (!t)
    return (
      <Text size="sm" c="dimmed">
        —
      </Text>
    );
  return (
    <Group
      gap={6}
      wrap="nowrap"
      data-testid="traffic-cell"
      title={`since the session started: read ${formatBytes(t.readBytes)}, written ${formatBytes(t.writtenBytes)}`}
    >
      <Sparkline
        points={props.history ?? []}
        slots={TRAFFIC_HISTORY}
        width={64}
        height={22}
        label={`read ${formatRate(t.readBytesPerSec)}, write ${formatRate(t.writeBytesPerSec)}`}
      />
      <Stack gap={0}>
        <Text size="xs" c="teal" lh={1.2}>
          ↓ {formatRate(t.readBytesPerSec)}
        </Text>
        <Text size="xs" c="orange" lh={1.2}>
          ↑ {formatRate(t.writeBytesPerSec)}
        </Text>
      </Stack>
    </Group>
  );
}
