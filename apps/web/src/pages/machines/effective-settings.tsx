import { Badge, Table, Text } from '@mantine/core';
import type { Group, Image, Machine } from '@ggnet/contracts';

const SOURCE_COLOR = { machine: 'blue', group: 'grape', default: 'gray' } as const;

/** "from the machine / group X / the default" for one effective value. */
export function SourceBadge(props: { source: 'machine' | 'group' | 'default'; groupName: string | null }) {
  const label =
    props.source === 'group'
      ? `group ${props.groupName ?? '?'}`
      : props.source === 'machine'
        ? 'own'
        : 'default';
  return (
    <Badge size="xs" variant="light" color={SOURCE_COLOR[props.source]} data-source={props.source}>
      {label}
    </Badge>
  );
}

/** What a machine boots with and where each value comes from (own, its group, the global default). */
export function EffectiveSettingsTable(props: { machine: Machine; images: Image[]; groups: Group[] }) {
  const e = props.machine.effective;
  const groupName = props.groups.find((g) => g.id === props.machine.groupId)?.name ?? null;
  const imageName = (id: string | null) =>
    id ? (props.images.find((i) => i.id === id)?.name ?? id) : 'none';
  const onOff = (b: boolean) => (b ? 'on' : 'off');
  const rows: Array<[string, string, 'machine' | 'group' | 'default']> = [
    ['Boot image', imageName(e.bootImageId.value), e.bootImageId.source],
    [
      'Extra disks',
      e.extraImageIds.value.length ? e.extraImageIds.value.map(imageName).join(', ') : 'none',
      e.extraImageIds.source,
    ],
    ['Boot mode', e.bootMode.value, e.bootMode.source],
    ['Boot menu', onOff(e.bootMenu.value), e.bootMenu.source],
    ['Keep writes', onOff(e.keepWriteback.value), e.keepWriteback.source],
  ];
  return (
    <Table variant="vertical" layout="fixed" fz="sm" withTableBorder data-testid="effective-settings">
      <Table.Tbody>
        {rows.map(([label, value, source]) => (
          <Table.Tr key={label} data-setting={label}>
            <Table.Th w={160}>{label}</Table.Th>
            <Table.Td>
              {value} <SourceBadge source={source} groupName={groupName} />
            </Table.Td>
          </Table.Tr>
        ))}
        <Table.Tr data-setting="Version">
          <Table.Th>Next boot version</Table.Th>
          <Table.Td>
            {e.bootVersion.versionId ? (
              <>
                {e.bootVersion.source === 'ring' ? (
                  <Badge size="xs" color="orange" variant="light">
                    ring release of group {groupName ?? '?'}
                  </Badge>
                ) : (
                  <Text span size="sm">
                    published version
                  </Text>
                )}
              </>
            ) : (
              <Text span c="dimmed" size="sm">
                none published
              </Text>
            )}
          </Table.Td>
        </Table.Tr>
      </Table.Tbody>
    </Table>
  );
}
