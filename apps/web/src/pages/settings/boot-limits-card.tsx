import { Card, SimpleGrid, Text, Title } from '@mantine/core';
import type { SettingsFields } from './settings-fields';

/** Settings, boot menu tab: the rate limits of /boot/*. */
export function BootLimitsCard({ f }: { f: SettingsFields }) {
  return (
    <Card withBorder mt="md" data-testid="boot-limits">
      <Title order={5} mb="xs">
        Boot endpoint limits
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        Requests to /boot/* per PC (MAC) and per client address; a limited PC waits and asks again. The
        defaults are twice what one PC asks at most during a boot storm. 0 switches a limit off.
      </Text>
      <SimpleGrid cols={{ base: 1, sm: 4 }}>
        {f.num('boot.macRequestsPerMin', 'Per MAC', { min: 0, suffix: ' /min' })}
        {f.num('boot.macBurst', 'Burst per MAC', { min: 1 })}
        {f.num('boot.addressRequestsPerMin', 'Per address', { min: 0, suffix: ' /min' })}
        {f.num('boot.addressBurst', 'Burst per address', { min: 1 })}
      </SimpleGrid>
    </Card>
  );
}
