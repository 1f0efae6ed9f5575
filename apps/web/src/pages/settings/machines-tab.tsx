import { Card, Select, SimpleGrid } from '@mantine/core';
import type { Image } from '@ggnet/contracts';
import { useGroups } from '../../api/queries';
import type { SettingsFields } from './settings-fields';

/** What happens to unknown PCs that boot: ignored, pending approval or booted at once, and their name. */
export function MachinesTab({ f, images }: { f: SettingsFields; images: Image[] }) {
  const groups = useGroups();
  return (
    <Card withBorder>
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <Select
          label="Auto-registration of unknown PCs"
          data={[
            { value: 'off', label: 'Off: unknown PCs are ignored' },
            { value: 'pending', label: 'Pending: listed for approval' },
            { value: 'auto', label: 'Automatic: boot at once' },
          ]}
          value={f.draft.machines.autoRegister}
          onChange={(v) => f.set('machines.autoRegister', v)}
          allowDeselect={false}
          {...f.field('machines.autoRegister')}
        />
        <Select
          label="Default image for new machines"
          placeholder="none"
          clearable
          data={images.map((i) => ({ value: i.id, label: i.name }))}
          value={f.draft.machines.defaultImageId}
          onChange={(v) => f.set('machines.defaultImageId', v)}
          {...f.field('machines.defaultImageId')}
        />
        <Select
          label="Group of new PCs"
          description="When no group's MAC prefix or address range matches the PC"
          placeholder="no group"
          clearable
          data={(groups.data?.items ?? []).map((g) => ({ value: g.id, label: g.name }))}
          value={f.draft.machines.autoRegisterGroupId}
          onChange={(v) => f.set('machines.autoRegisterGroupId', v)}
          {...f.field('machines.autoRegisterGroupId')}
        />
        {f.text(
          'machines.namePattern',
          'Name pattern',
          'pc-{n}',
          '{n} is a counter, {mac} the MAC without colons',
        )}
        {f.num('machines.registerPerHour', 'New PCs registered per hour at most', {
          min: 1,
          description: 'Pending and automatic alike; more are refused (the dashboard says so)',
        })}
        {f.num('machines.pendingMax', 'Pending machines at most', { min: 1 })}
        {f.num('machines.pendingExpireSec', 'A pending PC not seen for this long gives its place', {
          min: 120,
          suffix: ' s',
          description: 'Only when the pending list is full; oldest first',
        })}
        {f.num('machines.autoRegisterMax', 'Automatic registration stops at this many machines', {
          min: 1,
        })}
      </SimpleGrid>
    </Card>
  );
}
