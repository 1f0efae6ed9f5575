import { Group, Text, TextInput } from '@mantine/core';
import { IconSearch } from '@tabler/icons-react';

export interface AuditFilterValues {
  username: string;
  action: string;
  targetType: string;
  /** datetime-local input value (local time), '' for none. */
  since: string;
}

const FILTERS: Array<{
  key: keyof AuditFilterValues;
  label: string;
  placeholder?: string;
  type?: string;
  w: number;
}> = [
  { key: 'username', label: 'Filter by user', placeholder: 'User', w: 160 },
  { key: 'action', label: 'Filter by action', placeholder: 'Action, e.g. machine.create', w: 220 },
  { key: 'targetType', label: 'Filter by target type', placeholder: 'Target type, e.g. image', w: 180 },
  { key: 'since', label: 'Since', type: 'datetime-local', w: 210 },
];

/** User, action, target type and since; and how many entries match. */
export function AuditFilters(props: {
  values: AuditFilterValues;
  onChange: (patch: Partial<AuditFilterValues>) => void;
  total: number | undefined;
}) {
  const { values, onChange } = props;
  return (
    <Group p="sm" gap="sm">
      {FILTERS.map((f) => (
        <TextInput
          key={f.key}
          type={f.type}
          placeholder={f.placeholder}
          leftSection={f.key === 'username' ? <IconSearch size={14} /> : undefined}
          value={values[f.key]}
          onChange={(e) => onChange({ [f.key]: e.currentTarget.value })}
          w={f.w}
          aria-label={f.label}
        />
      ))}
      <Text size="sm" c="dimmed" ml="auto">
        {props.total !== undefined ? `${props.total} entries` : ''}
      </Text>
    </Group>
  );
}
