import { Card, SegmentedControl, SimpleGrid, Stack, TagsInput, Text, Title } from '@mantine/core';
import { IconLock } from '@tabler/icons-react';
import { DhcpSnippetCard } from './dhcp-snippet-card';
import { DhcpStatusLine } from './dhcp-status-line';
import type { SettingsFields } from './settings-fields';

const MODE_TEXT = {
  off: 'GGnet hands out no addresses. Configure the site DHCP server with the snippet below.',
  proxy: 'The router keeps handing out addresses; GGnet only adds the boot information (proxyDHCP).',
  dhcp: 'GGnet is the DHCP server of the boot network. Make sure no other DHCP server answers there.',
};

/** DHCP mode, the boot network, and (without GGnet's own DHCP) the snippet for the site's server. */
export function DhcpTab({ f, dirty }: { f: SettingsFields; dirty: boolean }) {
  const d = f.draft;
  return (
    <Stack>
      <Card withBorder>
        <Title order={5} mb="sm">
          DHCP mode
        </Title>
        <SegmentedControl
          value={d.dhcp.mode}
          onChange={(v) => f.set('dhcp.mode', v)}
          disabled={f.locked.has('dhcp.mode')}
          data={[
            { value: 'off', label: 'Off (external DHCP)' },
            { value: 'proxy', label: 'proxyDHCP (beside the router)' },
            { value: 'dhcp', label: 'Full DHCP server' },
          ]}
          data-testid="dhcp-mode"
        />
        {f.locked.has('dhcp.mode') && (
          <Text size="xs" c="dimmed" mt={4}>
            <IconLock size={12} /> dhcp.mode is locked by the environment.
          </Text>
        )}
        <Text size="sm" c="dimmed" mt="xs">
          {MODE_TEXT[d.dhcp.mode]}
        </Text>
        <DhcpStatusLine />
      </Card>
      <Card withBorder>
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          {f.text(
            'network.bootAddr',
            'Boot address',
            'first address of the interface',
            'Address clients use for HTTP and iSCSI',
          )}
          {f.num('network.bootHttpPort', 'Boot HTTP port', {
            min: 1,
            max: 65535,
            description: 'Only when it differs from the API port',
          })}
          {f.text('dhcp.iface', 'Boot network interface', 'eth1')}
          {f.text('dhcp.netmask', 'Netmask', '255.255.255.0')}
          {f.text('dhcp.rangeStart', 'Range start', '192.168.50.100')}
          {f.text('dhcp.rangeEnd', 'Range end', '192.168.50.200')}
          {f.text('dhcp.router', 'Router', '192.168.50.1')}
          <TagsInput
            label="DNS servers"
            value={d.dhcp.dns}
            onChange={(v) => f.set('dhcp.dns', v)}
            {...f.field('dhcp.dns')}
          />
          {f.num('dhcp.leaseTimeSec', 'Lease time', { min: 120, max: 604800, suffix: ' s' })}
        </SimpleGrid>
        <Stack mt="md" gap="xs">
          {f.bool(
            'dhcp.ipv6Ra',
            'Send IPv6 router advertisements',
            'Saves ~13 s per boot: iPXE stops waiting for IPv6',
          )}
          {f.bool(
            'network.bootEndpointOnlyOnBootListener',
            'Serve /boot/* only on the boot HTTP port',
            'The API port then answers /boot/* with 404: it need not face the boot network',
          )}
        </Stack>
      </Card>
      {d.dhcp.mode !== 'dhcp' && <DhcpSnippetCard dirty={dirty} />}
    </Stack>
  );
}
