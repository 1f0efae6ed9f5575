import { useState } from 'react';
import {
  Button,
  Card,
  Code,
  CopyButton,
  Group,
  SegmentedControl,
  Skeleton,
  Text,
  Title,
} from '@mantine/core';
import type { DhcpSnippet, DhcpSnippetFormat } from '@ggnet/contracts';
import { useOptional } from '../../api/queries';
import { QueryState } from '../../components/query-state';
import { keys } from '../../live/apply-event';

const FORMAT_LABELS: Record<DhcpSnippetFormat, string> = {
  isc: 'ISC dhcpd',
  kea: 'Kea',
  dnsmasq: 'dnsmasq',
  router: 'Router / Windows',
};
const FORMATS = (Object.keys(FORMAT_LABELS) as DhcpSnippetFormat[]).map((value) => ({
  value,
  label: FORMAT_LABELS[value],
}));

/**
 * What the site's own DHCP server needs, written by GGnet's server (GET /dhcp/snippet): it knows the
 * boot address, the script URL and which iPXE binaries it serves. When it cannot write one (no boot
 * address yet) it says why and what to set.
 */
export function DhcpSnippetCard({ dirty }: { dirty: boolean }) {
  const [format, setFormat] = useState<DhcpSnippetFormat>('isc');
  const q = useOptional<DhcpSnippet>([...keys.dhcp, 'snippet'], '/dhcp/snippet', { format });
  return (
    <Card withBorder data-testid="dhcp-snippet">
      <Group justify="space-between" mb="xs">
        <Title order={5}>For your DHCP server</Title>
        <SegmentedControl
          size="xs"
          value={format}
          onChange={(v) => setFormat(v as DhcpSnippetFormat)}
          data={FORMATS}
        />
      </Group>
      {dirty && (
        <Text size="xs" c="dimmed" mb={4}>
          Save first: the snippet shows the saved settings.
        </Text>
      )}
      <QueryState
        query={q}
        loading={<Skeleton h={120} />}
        empty={
          <Text size="sm" c="dimmed">
            Not available.
          </Text>
        }
      >
        {(s) =>
          s && (
            <>
              <Code block>{s.text}</Code>
              <Group justify="flex-end" mt="xs">
                <CopyButton value={s.text}>
                  {({ copied, copy }) => (
                    <Button size="xs" variant="light" onClick={copy}>
                      {copied ? 'Copied' : 'Copy'}
                    </Button>
                  )}
                </CopyButton>
              </Group>
            </>
          )
        }
      </QueryState>
    </Card>
  );
}
