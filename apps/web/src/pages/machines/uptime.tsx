import { Text } from '@mantine/core';
import type { Session } from '@ggnet/contracts';
import { formatDuration, secondsBetween } from '../../lib/format';
import { useNow } from '../../lib/use-now';

/** How long a machine's live session has been up (or booting); — without one. */
export function Uptime({ session }: { session: Session | undefined }) {
  const now = useNow();
  if (!session)
    return (
      <Text size="sm" c="dimmed">
        —
      </Text>
    );
  const since = session.activeAt ?? session.startedAt;
  // a title, not a Tooltip: 50 rows of floating-ui tooltips cost a visible part of the first render
  return (
    <Text size="sm" title={session.activeAt ? 'up since the OS logged in to its disk' : 'booting since'}>
      {formatDuration(secondsBetween(since, now))}
    </Text>
  );
}
