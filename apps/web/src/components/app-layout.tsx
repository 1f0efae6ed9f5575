import {
  ActionIcon,
  AppShell,
  Badge,
  Burger,
  Group,
  Menu,
  NavLink,
  Text,
  Tooltip,
  UnstyledButton,
  useComputedColorScheme,
  useMantineColorScheme,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import {
  IconActivity,
  IconAlertTriangle,
  IconCpu,
  IconDatabase,
  IconDeviceDesktop,
  IconDisc,
  IconGauge,
  IconList,
  IconLogout,
  IconMoon,
  IconPower,
  IconSettings,
  IconSun,
  IconUsers,
  IconUsersGroup,
} from '@tabler/icons-react';
import { Link, Outlet, useNavigate, useRouterState } from '@tanstack/react-router';
import type { Role } from '@ggnet/contracts';
import { auth } from '../api/client';
import { useAuth } from '../api/use-auth';
import { hasRole } from '../lib/roles';
import { useLiveStatus } from '../live/live-provider';

const NAV: Array<{ to: string; label: string; icon: typeof IconGauge; role: Role }> = [
  { to: '/', label: 'Dashboard', icon: IconGauge, role: 'viewer' },
  { to: '/machines', label: 'Machines', icon: IconDeviceDesktop, role: 'viewer' },
  { to: '/groups', label: 'Groups', icon: IconUsersGroup, role: 'viewer' },
  { to: '/images', label: 'Images', icon: IconDisc, role: 'viewer' },
  { to: '/sessions', label: 'Sessions', icon: IconActivity, role: 'viewer' },
  { to: '/targets', label: 'Targets', icon: IconDatabase, role: 'viewer' },
  { to: '/alerts', label: 'Alerts', icon: IconAlertTriangle, role: 'viewer' },
  { to: '/power', label: 'Power', icon: IconPower, role: 'viewer' },
  { to: '/users', label: 'Users', icon: IconUsers, role: 'admin' },
  { to: '/audit', label: 'Audit log', icon: IconList, role: 'admin' },
  { to: '/settings', label: 'Settings', icon: IconSettings, role: 'admin' },
];

function LiveIndicator() {
  const status = useLiveStatus();
  const color = status === 'live' ? 'teal' : status === 'connecting' ? 'yellow' : 'red';
  const label =
    status === 'live'
      ? 'Live: changes appear as they happen'
      : status === 'connecting'
        ? 'Connecting to live updates…'
        : 'Live updates disconnected; retrying';
  return (
    <Tooltip label={label}>
      <Badge color={color} variant="dot" data-testid="live-status" data-live={status}>
        {status === 'live' ? 'live' : status}
      </Badge>
    </Tooltip>
  );
}

function ColorSchemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const computed = useComputedColorScheme('light');
  return (
    <Tooltip label={computed === 'dark' ? 'Light mode' : 'Dark mode'}>
      <ActionIcon
        variant="default"
        size="lg"
        aria-label="Toggle dark mode"
        onClick={() => setColorScheme(computed === 'dark' ? 'light' : 'dark')}
      >
        {computed === 'dark' ? <IconSun size={18} /> : <IconMoon size={18} />}
      </ActionIcon>
    </Tooltip>
  );
}

export function AppLayout() {
  const [opened, { toggle, close }] = useDisclosure();
  const session = useAuth();
  const navigate = useNavigate();
  const path = useRouterState({ select: (s) => s.location.pathname });
  const role = session?.user.role;

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: 'md', collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="sm">
            <Burger opened={opened} onClick={toggle} hiddenFrom="md" size="sm" aria-label="Menu" />
            <IconCpu size={22} />
            <Text fw={700} size="lg">
              GGnet
            </Text>
            <LiveIndicator />
          </Group>
          <Group gap="xs">
            <ColorSchemeToggle />
            <Menu position="bottom-end" withinPortal>
              <Menu.Target>
                <UnstyledButton data-testid="user-menu">
                  <Group gap={6}>
                    <Text size="sm" fw={500}>
                      {session?.user.username}
                    </Text>
                    <Badge size="xs" variant="outline">
                      {role}
                    </Badge>
                  </Group>
                </UnstyledButton>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Item
                  leftSection={<IconLogout size={16} />}
                  onClick={async () => {
                    await auth.logout();
                    await navigate({ to: '/login' });
                  }}
                >
                  Log out
                </Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs">
        {NAV.filter((n) => hasRole(role, n.role)).map((n) => (
          <NavLink
            key={n.to}
            component={Link}
            to={n.to}
            label={n.label}
            leftSection={<n.icon size={18} stroke={1.6} />}
            active={n.to === '/' ? path === '/' : path.startsWith(n.to)}
            onClick={close}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
