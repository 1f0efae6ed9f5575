import { Card, NumberInput, Select, SimpleGrid, Stack } from '@mantine/core';
import type { SettingsFields } from './settings-fields';

const GiB = 1024 ** 3;

/** Storage backend, the free-space reserve (in GiB), versions kept, ZFS dataset, source files. */
export function StorageTab({ f }: { f: SettingsFields }) {
  const d = f.draft;
  return (
    <Card withBorder>
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <Select
          label="Storage backend"
          description="How each boot's disk is made; applies to new boots"
          data={[
            { value: 'auto', label: 'Detect at start-up' },
            { value: 'qcow2', label: 'qcow2 overlays, one read cache per version (rooms)' },
            { value: 'reflink', label: 'reflink (XFS / btrfs)' },
            { value: 'zfs', label: 'ZFS clones' },
            { value: 'copy', label: 'Full copies (slow)' },
          ]}
          value={d.storage.backend ?? 'auto'}
          onChange={(v) => f.set('storage.backend', v === 'auto' ? null : v)}
          allowDeselect={false}
          {...f.field('storage.backend')}
        />
        <NumberInput
          label="Reserve"
          description="Free space below which new boot disks are refused"
          suffix=" GiB"
          min={0}
          decimalScale={1}
          value={d.storage.reserveBytes / GiB}
          onChange={(v) => f.set('storage.reserveBytes', Math.round(Number(v || 0) * GiB))}
          {...f.field('storage.reserveBytes')}
        />
        {f.num('storage.retainVersions', 'Versions kept per image', {
          min: 1,
          max: 100,
          description: 'Older unprotected, unpublished versions are deleted',
        })}
        {f.text('storage.zfsDataset', 'ZFS dataset', 'tank/ggnet')}
      </SimpleGrid>
      <Stack mt="md">{f.bool('storage.keepSource', 'Keep the uploaded source file after conversion')}</Stack>
    </Card>
  );
}
