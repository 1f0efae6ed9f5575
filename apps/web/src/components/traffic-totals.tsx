import { Text } from '@mantine/core';
import type { Traffic } from '@ggnet/contracts';
import { formatBytes } from '../lib/format';

/** A session's iSCSI byte totals, ↓ read ↑ written (kept after it ended); a dash when none was sampled. */
export function TrafficTotals(props: { traffic: Traffic | null | undefined }) {
  const t = props.traffic;
  if (!t) return <>—</>;
  return (
    <Text
      span
      inherit
      data-testid="traffic-totals"
      title={`read ${formatBytes(t.readBytes)} and written ${formatBytes(t.writtenBytes)} over iSCSI by ${t.sampledAt}`}
    >
      ↓ {formatBytes(t.readBytes)} ↑ {formatBytes(t.writtenBytes)}
    </Text>
  );
}
