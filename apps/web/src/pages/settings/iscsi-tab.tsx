import { Card, Select, SimpleGrid, Stack } from '@mantine/core';
import type { SettingsFields } from './settings-fields';

/** iSCSI backend, portal, the parts of the IQNs, mutual CHAP. */
export function IscsiTab({ f }: { f: SettingsFields }) {
  return (
    <Card withBorder>
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <Select
          label="iSCSI backend"
          data={[
            { value: 'tgt', label: 'tgt (tgtd, user space)' },
            { value: 'lio', label: 'LIO (kernel target)' },
          ]}
          value={f.draft.iscsi.backend}
          onChange={(v) => f.set('iscsi.backend', v)}
          allowDeselect={false}
          {...f.field('iscsi.backend')}
        />
        {f.text('iscsi.portal', 'Portal', '0.0.0.0:3260')}
        {f.text('iscsi.iqnDomain', 'IQN domain', 'ggnet.lan')}
        {f.text('iscsi.iqnDate', 'IQN date', '2024-01')}
      </SimpleGrid>
      <Stack mt="md">
        {f.bool('iscsi.mutualChap', 'Mutual CHAP', 'The target proves itself to the client too')}
      </Stack>
    </Card>
  );
}
