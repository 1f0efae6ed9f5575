import { Card, Select, SimpleGrid } from '@mantine/core';
import type { SettingsFields } from './settings-fields';

/** The zones this browser knows (the server checks the name again with its own Intl). */
function zones(current: string): string[] {
  const list = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return [...new Set(['UTC', current, ...list])];
}

/** Power: the site's time zone (power schedules), where magic packets go and how fast, late slots. */
export function PowerTab({ f }: { f: SettingsFields }) {
  const tz = f.draft.power.timeZone;
  return (
    <Card withBorder>
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <Select
          label="Site time zone"
          description="Power schedules' days and times are read in this zone"
          searchable
          data={zones(tz)}
          value={tz}
          onChange={(v) => v && f.set('power.timeZone', v)}
          allowDeselect={false}
          {...f.field('power.timeZone')}
        />
        {f.num('power.packetsPerSecond', 'Magic packets per second', {
          min: 1,
          description: 'Pace of Wake-on-LAN for many machines at once',
        })}
        {f.num('power.wolPort', 'Wake-on-LAN UDP port', {
          min: 1,
          description: '9 (discard) is usual; some NICs use 7',
        })}
        {f.text(
          'power.wolBroadcast',
          'Wake-on-LAN broadcast address',
          'the boot network’s',
          'Empty: the broadcast of the boot interface’s subnet',
        )}
        {f.num('power.lateGraceMin', 'A missed schedule slot still runs within', {
          min: 0,
          suffix: ' min',
          description: 'After GGnet was down; older slots are skipped and logged',
        })}
      </SimpleGrid>
    </Card>
  );
}
