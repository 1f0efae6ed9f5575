import { useEffect, useMemo, useState, type ReactElement } from 'react';
import {
  Alert,
  Button,
  Card,
  Code,
  CopyButton,
  Group,
  NumberInput,
  SegmentedControl,
  Select,
  SimpleGrid,
  Skeleton,
  Stack,
  Switch,
  Tabs,
  TagsInput,
  Text,
  TextInput,
  Title,
  Tooltip,
} from '@mantine/core';
import { IconLock } from '@tabler/icons-react';
import type { Settings, SettingsPatch } from '@ggnet/contracts';
import { isApiError } from '../api/api-error';
import { useApiMutation, useImages, useOptional, useSettings } from '../api/queries';
import { BootLimitsCard } from '../components/boot-limits-card';
import { MaintenancePinCard } from '../components/maintenance-pin-card';
import { PageHeader, QueryError, StatusBadge } from '../components/ui';
import { keys } from '../live/apply-event';
import { dhcpSnippet } from '../lib/dhcp-snippet';
import { notifyOk } from '../lib/notify';
import { BackupsPanel } from './backups/backups-panel';

type Obj = Record<string, unknown>;
const GiB = 1024 ** 3;

function getPath(o: Obj, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((a, k) => (a && typeof a === 'object' ? (a as Obj)[k] : undefined), o);
}

function setPath<T extends Obj>(o: T, path: string, v: unknown): T {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  if (!rest.length) return { ...o, [head]: v };
  return { ...o, [head]: setPath((o[head] as Obj) ?? {}, rest.join('.'), v) };
}

/** Only the keys that differ from the saved settings, grouped as PUT /settings wants them. */
export function settingsDiff(saved: Settings, draft: Settings): SettingsPatch {
  const out: Obj = {};
  for (const [g, obj] of Object.entries(draft)) {
    for (const [k, v] of Object.entries(obj as Obj)) {
      if (
        JSON.stringify(v) !==
        JSON.stringify((saved as unknown as Obj)[g] && ((saved as unknown as Obj)[g] as Obj)[k])
      ) {
        out[g] = { ...(out[g] ?? {}), [k]: v };
      }
    }
  }
  return out;
}

/** GET /api/v1/dhcp/snippet (network boot module); the text is generated here until a server has it. */
interface ServerSnippet {
  format: string;
  text: string;
}
interface DhcpStatus {
  daemon: string;
  tftp: boolean;
  problem: string | null;
  scriptUrl: string | null;
}

const SNIPPET_FORMATS = [
  { value: 'isc', label: 'ISC dhcpd' },
  { value: 'kea', label: 'Kea' },
  { value: 'dnsmasq', label: 'dnsmasq' },
  { value: 'router', label: 'Router / Windows' },
];

function DhcpSnippetCard({ settings, dirty }: { settings: Settings; dirty: boolean }) {
  const [format, setFormat] = useState('isc');
  const server = useOptional<ServerSnippet>([...keys.dhcp, 'snippet'], '/dhcp/snippet', { format });
  const port = Number(window.location.port) || (window.location.protocol === 'https:' ? 443 : 80);
  const local =
    format === 'isc' || format === 'dnsmasq'
      ? dhcpSnippet(settings, format, window.location.hostname, port)
      : null;
  const text = server.data?.text ?? local;
  const formats =
    server.data === null
      ? SNIPPET_FORMATS.filter((f) => f.value === 'isc' || f.value === 'dnsmasq')
      : SNIPPET_FORMATS;
  return (
    <Card withBorder data-testid="dhcp-snippet">
      <Group justify="space-between" mb="xs">
        <Title order={5}>For your DHCP server</Title>
        <SegmentedControl size="xs" value={format} onChange={setFormat} data={formats} />
      </Group>
      {dirty && (
        <Text size="xs" c="dimmed" mb={4}>
          Save first: the snippet shows the saved settings.
        </Text>
      )}
      {server.isPending ? (
        <Skeleton h={120} />
      ) : text ? (
        <Code block>{text}</Code>
      ) : (
        <Text size="sm" c="dimmed">
          Not available.
        </Text>
      )}
      {text && (
        <Group justify="flex-end" mt="xs">
          <CopyButton value={text}>
            {({ copied, copy }) => (
              <Button size="xs" variant="light" onClick={copy}>
                {copied ? 'Copied' : 'Copy'}
              </Button>
            )}
          </CopyButton>
        </Group>
      )}
    </Card>
  );
}

function DhcpStatusLine() {
  const q = useOptional<DhcpStatus>([...keys.dhcp, 'status'], '/dhcp/status');
  if (!q.data) return null;
  const d = q.data;
  return (
    <Group gap="xs" mt="xs" data-testid="dhcp-status">
      <StatusBadge
        status={d.daemon === 'running' ? 'online' : d.daemon === 'failed' ? 'failed' : 'offline'}
      />
      <Text size="sm">
        dnsmasq {d.daemon}
        {d.tftp ? ' · TFTP on' : ''}
        {d.scriptUrl ? ` · boot script ${d.scriptUrl}` : ''}
      </Text>
      {d.problem && (
        <Text size="sm" c="red">
          {d.problem}
        </Text>
      )}
    </Group>
  );
}

export function SettingsPage() {
  const q = useSettings();
  const images = useImages();
  const [draft, setDraft] = useState<Settings | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const save = useApiMutation<SettingsPatch>(
    (body) => ({ path: '/settings', method: 'PUT', body }),
    [keys.settings],
    { silent: true },
  );

  useEffect(() => {
    if (q.data && !draft) setDraft(q.data.settings);
  }, [q.data, draft]);

  const locked = useMemo(() => new Set(q.data?.locked ?? []), [q.data]);
  const diff = useMemo(() => (q.data && draft ? settingsDiff(q.data.settings, draft) : {}), [q.data, draft]);
  const dirty = Object.keys(diff).length > 0;

  if (q.isPending || (!draft && !q.isError)) return <Skeleton h={400} />;
  if (q.isError) return <QueryError error={q.error} retry={() => void q.refetch()} />;
  const d = draft!;

  const set = (path: string, v: unknown) => {
    setDraft((o) => setPath(o as unknown as Obj, path, v) as unknown as Settings);
    if (errors[path]) setErrors((e) => ({ ...e, [path]: '' }));
  };
  /** Common props of a field: value, error, and the lock when the environment pins the key. */
  const field = (path: string) => {
    const isLocked = locked.has(path);
    return {
      disabled: isLocked,
      error: errors[path] || undefined,
      rightSection: isLocked ? (
        <Tooltip label="Set by the server's environment (GGNET_*) or config file; change it there">
          <IconLock size={14} data-testid={`locked-${path}`} />
        </Tooltip>
      ) : undefined,
      'data-locked': isLocked || undefined,
    };
  };
  const str = (path: string) => (getPath(d, path) as string | null) ?? '';
  const text = (path: string, label: string, placeholder?: string, description?: string): ReactElement => (
    <TextInput
      label={label}
      placeholder={placeholder}
      description={description}
      value={str(path)}
      onChange={(e) => set(path, e.currentTarget.value.trim() === '' ? null : e.currentTarget.value)}
      {...field(path)}
    />
  );
  const num = (
    path: string,
    label: string,
    opts: { min?: number; max?: number; suffix?: string; description?: string } = {},
  ) => (
    <NumberInput
      label={label}
      description={opts.description}
      min={opts.min}
      max={opts.max}
      suffix={opts.suffix}
      value={(getPath(d, path) as number | null) ?? ''}
      onChange={(v) => set(path, v === '' ? null : Number(v))}
      {...field(path)}
    />
  );
  const bool = (path: string, label: string, description?: string) => (
    <Switch
      label={
        <Group gap={4}>
          {label}
          {locked.has(path) && <IconLock size={12} data-testid={`locked-${path}`} />}
        </Group>
      }
      description={description}
      checked={!!getPath(d, path)}
      onChange={(e) => set(path, e.currentTarget.checked)}
      disabled={locked.has(path)}
      error={errors[path] || undefined}
    />
  );

  const submit = async () => {
    setFormError(null);
    setErrors({});
    try {
      const res = await save.mutateAsync(diff);
      setDraft((res as { settings: Settings } | undefined)?.settings ?? d);
      notifyOk('Settings saved');
    } catch (e) {
      if (isApiError(e)) {
        const fe = e.fieldErrors();
        setErrors(fe);
        setFormError(
          Object.keys(fe).length
            ? 'Some fields need fixing (see below).'
            : `${e.detail}${e.hint ? ` — ${e.hint}` : ''}`,
        );
      } else setFormError(String(e));
    }
  };

  const errorIn = (group: string) => Object.entries(errors).some(([k, v]) => v && k.startsWith(`${group}.`));
  const tab = (value: string, label: string) => (
    <Tabs.Tab value={value} color={errorIn(value) ? 'red' : undefined} c={errorIn(value) ? 'red' : undefined}>
      {label}
    </Tabs.Tab>
  );

  return (
    <>
      <PageHeader
        title="Settings"
        description="Changes apply at once; keys pinned by the server's environment are locked."
        actions={
          <>
            <Button
              variant="default"
              disabled={!dirty}
              onClick={() => {
                setDraft(q.data.settings);
                setErrors({});
                setFormError(null);
              }}
            >
              Discard
            </Button>
            <Button disabled={!dirty} loading={save.isPending} onClick={submit} data-testid="save-settings">
              Save changes
            </Button>
          </>
        }
      />
      {formError && (
        <Alert color="red" mb="md" role="alert" data-testid="settings-error">
          {formError}
        </Alert>
      )}
      {locked.size > 0 && (
        <Text size="sm" c="dimmed" mb="sm">
          <IconLock size={12} /> Locked: {[...locked].join(', ')}
        </Text>
      )}
      <Tabs defaultValue="dhcp" keepMounted={false}>
        <Tabs.List mb="md">
          {tab('dhcp', 'Network & DHCP')}
          {tab('boot', 'Boot menu')}
          {tab('storage', 'Storage')}
          {tab('iscsi', 'iSCSI')}
          {tab('machines', 'Machines')}
          {tab('backup', 'Backups')}
        </Tabs.List>
        <Tabs.Panel value="dhcp">
          <Stack>
            <Card withBorder>
              <Title order={5} mb="sm">
                DHCP mode
              </Title>
              <SegmentedControl
                value={d.dhcp.mode}
                onChange={(v) => set('dhcp.mode', v)}
                disabled={locked.has('dhcp.mode')}
                data={[
                  { value: 'off', label: 'Off (external DHCP)' },
                  { value: 'proxy', label: 'proxyDHCP (beside the router)' },
                  { value: 'dhcp', label: 'Full DHCP server' },
                ]}
                data-testid="dhcp-mode"
              />
              {locked.has('dhcp.mode') && (
                <Text size="xs" c="dimmed" mt={4}>
                  <IconLock size={12} /> dhcp.mode is locked by the environment.
                </Text>
              )}
              <Text size="sm" c="dimmed" mt="xs">
                {d.dhcp.mode === 'off'
                  ? 'GGnet hands out no addresses. Configure the site DHCP server with the snippet below.'
                  : d.dhcp.mode === 'proxy'
                    ? 'The router keeps handing out addresses; GGnet only adds the boot information (proxyDHCP).'
                    : 'GGnet is the DHCP server of the boot network. Make sure no other DHCP server answers there.'}
              </Text>
              <DhcpStatusLine />
            </Card>
            <Card withBorder>
              <SimpleGrid cols={{ base: 1, sm: 2 }}>
                {text(
                  'network.bootAddr',
                  'Boot address',
                  'first address of the interface',
                  'Address clients use for HTTP and iSCSI',
                )}
                {num('network.bootHttpPort', 'Boot HTTP port', {
                  min: 1,
                  max: 65535,
                  description: 'Only when it differs from the API port',
                })}
                {text('dhcp.iface', 'Boot network interface', 'eth1')}
                {text('dhcp.netmask', 'Netmask', '255.255.255.0')}
                {text('dhcp.rangeStart', 'Range start', '192.168.50.100')}
                {text('dhcp.rangeEnd', 'Range end', '192.168.50.200')}
                {text('dhcp.router', 'Router', '192.168.50.1')}
                <TagsInput
                  label="DNS servers"
                  value={d.dhcp.dns}
                  onChange={(v) => set('dhcp.dns', v)}
                  {...field('dhcp.dns')}
                />
                {num('dhcp.leaseTimeSec', 'Lease time', { min: 120, max: 604800, suffix: ' s' })}
              </SimpleGrid>
              <Stack mt="md" gap="xs">
                {bool(
                  'dhcp.ipv6Ra',
                  'Send IPv6 router advertisements',
                  'Saves ~13 s per boot: iPXE stops waiting for IPv6',
                )}
                {bool(
                  'network.bootEndpointOnlyOnBootListener',
                  'Serve /boot/* only on the boot HTTP port',
                  'The API port then answers /boot/* with 404: it need not face the boot network',
                )}
              </Stack>
            </Card>
            {d.dhcp.mode !== 'dhcp' && <DhcpSnippetCard settings={q.data.settings} dirty={dirty} />}
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="boot">
          <Card withBorder>
            <Stack>
              {bool('boot.menu', 'Show a boot menu', 'Normal / maintenance / local disk, before booting')}
              <SimpleGrid cols={{ base: 1, sm: 3 }}>
                {num('boot.menuTimeoutSec', 'Menu timeout', { min: 0, max: 300, suffix: ' s' })}
                {num('boot.retries', 'sanboot retries', { min: 0, max: 20 })}
                {num('boot.pendingRetrySec', 'Retry while pending approval', {
                  min: 2,
                  max: 600,
                  suffix: ' s',
                })}
              </SimpleGrid>
              {num('sessions.idleTimeoutSec', 'End a session after no iSCSI connection for', {
                min: 30,
                max: 604800,
                suffix: ' s',
              })}
              {bool(
                'boot.maintenanceApproval',
                "Maintenance from the menu needs an operator's approval",
                'The PC waits until an operator approves or denies it on the dashboard',
              )}
            </Stack>
          </Card>
          <MaintenancePinCard />
          <BootLimitsCard num={num} />
        </Tabs.Panel>
        <Tabs.Panel value="storage">
          <Card withBorder>
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <Select
                label="Storage backend"
                data={[
                  { value: 'auto', label: 'Detect at start-up' },
                  { value: 'reflink', label: 'reflink (XFS / btrfs)' },
                  { value: 'zfs', label: 'ZFS clones' },
                  { value: 'copy', label: 'Full copies (slow)' },
                ]}
                value={d.storage.backend ?? 'auto'}
                onChange={(v) => set('storage.backend', v === 'auto' ? null : v)}
                allowDeselect={false}
                {...field('storage.backend')}
              />
              <NumberInput
                label="Reserve"
                description="Free space below which new boot disks are refused"
                suffix=" GiB"
                min={0}
                decimalScale={1}
                value={d.storage.reserveBytes / GiB}
                onChange={(v) => set('storage.reserveBytes', Math.round(Number(v || 0) * GiB))}
                {...field('storage.reserveBytes')}
              />
              {num('storage.retainVersions', 'Versions kept per image', {
                min: 1,
                max: 100,
                description: 'Older unprotected, unpublished versions are deleted',
              })}
              {text('storage.zfsDataset', 'ZFS dataset', 'tank/ggnet')}
            </SimpleGrid>
            <Stack mt="md">
              {bool('storage.keepSource', 'Keep the uploaded source file after conversion')}
            </Stack>
          </Card>
        </Tabs.Panel>
        <Tabs.Panel value="iscsi">
          <Card withBorder>
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <Select
                label="iSCSI backend"
                data={[
                  { value: 'tgt', label: 'tgt (tgtd, user space)' },
                  { value: 'lio', label: 'LIO (kernel target)' },
                ]}
                value={d.iscsi.backend}
                onChange={(v) => set('iscsi.backend', v)}
                allowDeselect={false}
                {...field('iscsi.backend')}
              />
              {text('iscsi.portal', 'Portal', '0.0.0.0:3260')}
              {text('iscsi.iqnDomain', 'IQN domain', 'ggnet.lan')}
              {text('iscsi.iqnDate', 'IQN date', '2024-01')}
            </SimpleGrid>
            <Stack mt="md">
              {bool('iscsi.mutualChap', 'Mutual CHAP', 'The target proves itself to the client too')}
            </Stack>
          </Card>
        </Tabs.Panel>
        <Tabs.Panel value="backup">
          <Stack>
            <Card withBorder>
              <SimpleGrid cols={{ base: 1, sm: 3 }}>
                {bool('backup.daily', 'Daily backup', 'Database, secrets, configuration, settings')}
                {num('backup.hour', 'At (hour of the day)', { min: 0, max: 23, suffix: ':00' })}
                {num('backup.keep', 'Daily backups kept', { min: 1, max: 365 })}
              </SimpleGrid>
            </Card>
            <BackupsPanel />
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="machines">
          <Card withBorder>
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <Select
                label="Auto-registration of unknown PCs"
                data={[
                  { value: 'off', label: 'Off: unknown PCs are ignored' },
                  { value: 'pending', label: 'Pending: listed for approval' },
                  { value: 'auto', label: 'Automatic: boot at once' },
                ]}
                value={d.machines.autoRegister}
                onChange={(v) => set('machines.autoRegister', v)}
                allowDeselect={false}
                {...field('machines.autoRegister')}
              />
              <Select
                label="Default image for new machines"
                placeholder="none"
                clearable
                data={(images.data?.items ?? []).map((i) => ({ value: i.id, label: i.name }))}
                value={d.machines.defaultImageId}
                onChange={(v) => set('machines.defaultImageId', v)}
                {...field('machines.defaultImageId')}
              />
              {text(
                'machines.namePattern',
                'Name pattern',
                'pc-{n}',
                '{n} is a counter, {mac} the MAC without colons',
              )}
              {num('machines.registerPerHour', 'New PCs registered per hour at most', {
                min: 1,
                description: 'Pending and automatic alike; more are refused (the dashboard says so)',
              })}
              {num('machines.pendingMax', 'Pending machines at most', { min: 1 })}
              {num('machines.pendingExpireSec', 'A pending PC not seen for this long gives its place', {
                min: 120,
                suffix: ' s',
                description: 'Only when the pending list is full; oldest first',
              })}
              {num('machines.autoRegisterMax', 'Automatic registration stops at this many machines', {
                min: 1,
              })}
            </SimpleGrid>
          </Card>
        </Tabs.Panel>
      </Tabs>
    </>
  );
}
