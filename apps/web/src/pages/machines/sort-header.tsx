import { Group, Table, Text, UnstyledButton } from '@mantine/core';
import { IconChevronDown, IconChevronUp, IconSelector } from '@tabler/icons-react';

/** A column header that sorts by `field`: ascending first, descending on the second click. */
export function SortHeader(props: {
  field: string;
  label: string;
  sort: string;
  onSort: (s: string) => void;
}) {
  const active = props.sort.replace(/^-/, '') === props.field;
  const desc = props.sort.startsWith('-');
  const Icon = active ? (desc ? IconChevronDown : IconChevronUp) : IconSelector;
  return (
    <Table.Th>
      <UnstyledButton
        onClick={() => props.onSort(active && !desc ? `-${props.field}` : props.field)}
        aria-label={`Sort by ${props.label}`}
      >
        <Group gap={4} wrap="nowrap">
          <Text fw={600} size="sm">
            {props.label}
          </Text>
          <Icon size={14} />
        </Group>
      </UnstyledButton>
    </Table.Th>
  );
}
