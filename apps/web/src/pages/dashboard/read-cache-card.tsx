import { Card, Group, Skeleton, Table, Text, Title } from '@mantine/core';
import type { StorageCache } from '@ggnet/contracts';
import { formatBytes } from '../../lib/format';
import { useOptional } from '../../api/queries';
import { QueryState } from '../../components/query-state';
import { keys } from '../../live/apply-event';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * The read cache per version (issue 12): RAM each version holds in the page cache (its master, and
 * in all with its disks' own files: reflink clones cache apart, qcow2 overlays share the master's),
 * and on the qcow2 backend the share of qemu-storage-daemon's reads the cache answered.
 */
export function ReadCacheCard() {
  const q = useOptional<StorageCache>([...keys.storage, 'cache'], '/storage/cache');
  return (
    <Card withBorder padding="md" data-testid="read-cache-card">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Read cache</Title>
        {q.data?.hitRate != null && (
          <Text size="xs" c="dimmed" data-testid="hit-rate">
            hit rate {pct(q.data.hitRate)}
          </Text>
        )}
      </Group>
      <QueryState
        query={q}
        loading={<Skeleton h={40} />}
        empty={
          <Text c="dimmed" size="sm">
            Cache figures are not available from this server yet.
          </Text>
        }
      >
        {(c) =>
          // an older server answers this path with another shape
          c && Array.isArray(c.versions) ? (
            <>
              {c.versions.length === 0 ? (
                <Text c="dimmed" size="sm">
                  No published version or live disk.
                </Text>
              ) : (
                <Table fz="sm" verticalSpacing={4}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Version</Table.Th>
                      <Table.Th ta="right">Disks</Table.Th>
                      <Table.Th ta="right">RAM, master</Table.Th>
                      <Table.Th ta="right">RAM, in all</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {c.versions.map((v) => (
                      <Table.Tr key={v.versionId}>
                        <Table.Td>
                          {v.imageName} v{v.versionNumber}
                        </Table.Td>
                        <Table.Td ta="right">{v.disks}</Table.Td>
                        <Table.Td ta="right">
                          {v.masterCacheBytes === null ? '?' : formatBytes(v.masterCacheBytes)}
                        </Table.Td>
                        <Table.Td ta="right">
                          {v.cacheBytes === null ? '?' : formatBytes(v.cacheBytes)}
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              )}
              {c.readBytes !== null && (
                <Text size="xs" c="dimmed" mt="xs">
                  qemu-storage-daemon read {formatBytes(c.readBytes)}, {formatBytes(c.diskReadBytes ?? 0)} of
                  it from disk
                </Text>
              )}
            </>
          ) : null
        }
      </QueryState>
    </Card>
  );
}
