import { Group, Text, TextInput } from '@mantine/core';
import { IconSearch } from '@tabler/icons-react';

export interface AuditFilterValues {
  username: string;
  action: string;
  targetType: string;
  /** datetime-local input value (local time), '' for none. */
  since: string;
}

/** User, action, target type and since; and how many entries match. */
export function AuditFilters(props: {
  values: AuditFilterValues;
  onChange: (patch: Partial<AuditFilterValues>) => void;
  total: number | undefined;
}) {
  const { values, onChange } = props;
  return (
    <Group p="sm" gap="sm">
      <TextInput
        placeholder="User"
        leftSection={<IconSearch size={14} />}
        value={values.username}
        onChange={(e) => onChange({ username: e.currentTarget.value })}
        w={160}
        aria-label="Filter by user"
      />
      <TextInput
        placeholder="Action, e.g. machine.create"
        value={values.action}
        onChange={(e) => onChange({ action: e.currentTarget.value })}
        w={220}
        aria-label="Filter by action"
      />
      <TextInput
        placeholder="Target type, e.g. image"
        value={values.targetType}
        onChange={(e) => onChange({ targetType: e.currentTarget.value })}
        w={180}
        aria-label="Filter by target type"
      />
      <TextInput
        type="datetime-local"
        value={values.since}
        onChange={(e) => onChange({ since: e.currentTarget.value })}
        w={210}
        aria-label="Since"
      />
      <Text size="sm" c="dimmed" ml="auto">
        {props.total !== undefined ? `${props.total} entries` : ''}
      </Text>
    </Group>
  );
}
