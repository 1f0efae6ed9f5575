import { Table } from '@mantine/core';

/** A column of TableHead: its title, '' for an untitled one (row actions), or with a width. */
export type Column = string | { label?: string; w: number } | false | null | undefined;

/** The header row of a table; falsy columns are left out (e.g. actions a viewer does not get). */
export function TableHead({ columns }: { columns: Column[] }) {
  return (
    <Table.Thead>
      <Table.Tr>
        {columns.map((c, i) =>
          !c && c !== '' ? null : typeof c === 'string' ? (
            <Table.Th key={i}>{c || null}</Table.Th>
          ) : (
            <Table.Th key={i} w={c.w}>
              {c.label}
            </Table.Th>
          ),
        )}
      </Table.Tr>
    </Table.Thead>
  );
}
