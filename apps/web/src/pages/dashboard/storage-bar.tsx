import { Group, Progress, Stack, Text, Tooltip } from '@mantine/core';
import type { StorageSummary } from '@ggnet/contracts';
import { formatBytes } from '../../lib/format';

/** Sections of the storage bar: image versions, writebacks, other data, then the reserve inside the free space. */
export function storageSections(
  s: Pick<StorageSummary, 'totalBytes' | 'freeBytes' | 'reserveBytes' | 'versionBytes' | 'writebackBytes'>,
) {
  const total = s.totalBytes;
  const free = s.freeBytes;
  const used = Math.max(0, total - free);
  const versions = Math.min(used, s.versionBytes);
  const writebacks = Math.min(used - versions, s.writebackBytes);
  const other = used - versions - writebacks;
  const reserve = Math.min(free, s.reserveBytes);
  const pct = (n: number) => (total ? (n / total) * 100 : 0);
  return { total, free, used, versions, writebacks, other, reserve, pct };
}

/** The storage bar with its figures, and what is wrong (below the reserve, the backend's warning). */
export function StorageBar({ s }: { s: StorageSummary }) {
  const x = storageSections(s);
  const below = s.belowReserve;
  return (
    <Stack gap={6}>
      <Progress.Root size="xl">
        <Tooltip label={`image versions ${formatBytes(x.versions)}`}>
          <Progress.Section value={x.pct(x.versions)} color="indigo" />
        </Tooltip>
        <Tooltip label={`writebacks ${formatBytes(x.writebacks)} (${s.writebackCount})`}>
          <Progress.Section value={x.pct(x.writebacks)} color="cyan" />
        </Tooltip>
        <Tooltip label={`other data ${formatBytes(x.other)}`}>
          <Progress.Section value={x.pct(x.other)} color="gray" />
        </Tooltip>
        <Tooltip label={`reserve ${formatBytes(s.reserveBytes)}`}>
          <Progress.Section value={x.pct(x.reserve)} color={below ? 'red' : 'orange.3'} />
        </Tooltip>
      </Progress.Root>
      <Group justify="space-between">
        <Text size="sm">
          {formatBytes(x.used)} used of {formatBytes(x.total)}
        </Text>
        <Text size="sm" c="dimmed">
          {formatBytes(x.free)} free · reserve {formatBytes(s.reserveBytes)}
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
}
