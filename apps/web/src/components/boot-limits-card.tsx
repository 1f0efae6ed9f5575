import type { ReactElement } from 'react';
import { Card, SimpleGrid, Text, Title } from '@mantine/core';

type NumField = (
  path: string,
  label: string,
  opts?: { min?: number; max?: number; suffix?: string; description?: string },
) => ReactElement;

/** Settings, boot menu tab: the rate limits of /boot/* (fields drawn by the settings page's `num`). */
export function BootLimitsCard({ num }: { num: NumField }) {
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
        {num('boot.macRequestsPerMin', 'Per MAC', { min: 0, suffix: ' /min' })}
        {num('boot.macBurst', 'Burst per MAC', { min: 1 })}
        {num('boot.addressRequestsPerMin', 'Per address', { min: 0, suffix: ' /min' })}
        {num('boot.addressBurst', 'Burst per address', { min: 1 })}
      </SimpleGrid>
    </Card>
  );
}
