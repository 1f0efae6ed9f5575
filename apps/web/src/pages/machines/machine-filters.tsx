import { useState } from 'react';
import { Group, Select, Text, TextInput } from '@mantine/core';
import { useDebouncedCallback } from '@mantine/hooks';
import { IconSearch } from '@tabler/icons-react';
import { BOOT_MODES, type Group as MachineGroup, type Image, type MachineStatus } from '@ggnet/contracts';
import type { MachinesSearch } from './machines-search';

const STATUS_FILTERS: MachineStatus[] = ['online', 'booting', 'offline', 'pending', 'disabled'];

/** Search box (debounced into the URL) and the status, boot mode and image filters. */
export function MachineFilters(props: {
  search: MachinesSearch;
  images: Image[];
  groups: MachineGroup[];
  total: number | undefined;
  onChange: (patch: Partial<MachinesSearch>) => void;
}) {
  const { search, onChange } = props;
  const [q, setQ] = useState(search.q ?? '');
  const pushQ = useDebouncedCallback((v: string) => onChange({ q: v || undefined }), 250);
  return (
    <Group p="sm" gap="sm" wrap="wrap">
      <TextInput
        placeholder="Search name, MAC, IP, description"
        leftSection={<IconSearch size={16} />}
        value={q}
        onChange={(e) => {
          setQ(e.currentTarget.value);
          pushQ(e.currentTarget.value);
        }}
        w={280}
        aria-label="Search machines"
      />
      <Select
        placeholder="Any status"
        clearable
        w={150}
        aria-label="Status filter"
        data={STATUS_FILTERS}
        value={search.status ?? null}
        onChange={(v) => onChange({ status: v ?? undefined })}
      />
      <Select
        placeholder="Any boot mode"
        clearable
        w={160}
        aria-label="Boot mode filter"
        data={BOOT_MODES}
        value={search.bootMode ?? null}
        onChange={(v) => onChange({ bootMode: v ?? undefined })}
      />
      <Select
        placeholder="Any image"
        clearable
        searchable
        w={180}
        aria-label="Image filter"
        data={props.images.map((i) => ({ value: i.id, label: i.name }))}
        value={search.imageId ?? null}
        onChange={(v) => onChange({ imageId: v ?? undefined })}
      />
      <Select
        placeholder="Any group"
        clearable
        searchable
        w={170}
        aria-label="Group filter"
        data={[
          { value: 'none', label: '(no group)' },
          ...props.groups.map((g) => ({ value: g.id, label: g.name })),
        ]}
        value={search.groupId ?? null}
        onChange={(v) => onChange({ groupId: v ?? undefined })}
      />
      <Text size="sm" c="dimmed" ml="auto">
        {props.total !== undefined ? `${props.total} machine${props.total === 1 ? '' : 's'}` : ''}
      </Text>
    </Group>
  );
}
