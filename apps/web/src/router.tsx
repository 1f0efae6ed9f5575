import {
  createRootRouteWithContext,
  createRoute,
  createRouter,
  lazyRouteComponent,
  Outlet,
  redirect,
} from '@tanstack/react-router';
import type { QueryClient } from '@tanstack/react-query';
import type { Role } from '@ggnet/contracts';
import { auth } from './api/client';
import { AppLayout } from './components/app-layout';
import { hasRole } from './lib/roles';
import { searchString } from './lib/search-params';
import { validateMachinesSearch } from './pages/machines/machines-search';
import { validateSessionsSearch } from './pages/sessions/sessions-search';

interface RouterContext {
  queryClient: QueryClient;
}

const rootRoute = createRootRouteWithContext<RouterContext>()({ component: Outlet });

const loginRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/login',
  validateSearch: (s: Record<string, unknown>): { redirect?: string } => ({
    redirect: searchString(s.redirect),
  }),
  component: lazyRouteComponent(() => import('./pages/login/login-page'), 'LoginPage'),
});

/** Every page but login: needs a login; redirects to /login and back afterwards. */
const appRoute = createRoute({
  getParentRoute: () => rootRoute,
  id: 'app',
  beforeLoad: ({ location }) => {
    if (!auth.get()) {
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw redirect({ to: '/login', search: { redirect: location.href } });
    }
  },
  component: AppLayout,
});

/** Admin-only pages: a lesser role is sent to the dashboard (the menu does not show them either). */
const requireRole = (role: Role) => () => {
  if (!hasRole(auth.get()?.user.role, role)) {
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw redirect({ to: '/' });
  }
};

const dashboardRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/',
  component: lazyRouteComponent(() => import('./pages/dashboard/dashboard-page'), 'DashboardPage'),
});

const machinesRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/machines',
  validateSearch: validateMachinesSearch,
  component: lazyRouteComponent(() => import('./pages/machines/machines-page'), 'MachinesPage'),
});

const groupsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/groups',
  component: lazyRouteComponent(() => import('./pages/groups/groups-page'), 'GroupsPage'),
});

const imagesRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/images',
  component: lazyRouteComponent(() => import('./pages/images/images-page'), 'ImagesPage'),
});

const sessionsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/sessions',
  validateSearch: validateSessionsSearch,
  component: lazyRouteComponent(() => import('./pages/sessions/sessions-page'), 'SessionsPage'),
});

const targetsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/targets',
  component: lazyRouteComponent(() => import('./pages/targets/targets-page'), 'TargetsPage'),
});

const alertsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/alerts',
  component: lazyRouteComponent(() => import('./pages/alerts/alerts-page'), 'AlertsPage'),
});

const powerRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/power',
  component: lazyRouteComponent(() => import('./pages/power/power-page'), 'PowerPage'),
});

const usersRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/users',
  beforeLoad: requireRole('admin'),
  component: lazyRouteComponent(() => import('./pages/users/users-page'), 'UsersPage'),
});

const auditRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/audit',
  beforeLoad: requireRole('admin'),
  component: lazyRouteComponent(() => import('./pages/audit/audit-page'), 'AuditPage'),
});

const settingsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/settings',
  beforeLoad: requireRole('admin'),
  component: lazyRouteComponent(() => import('./pages/settings/settings-page'), 'SettingsPage'),
});

const routeTree = rootRoute.addChildren([
  loginRoute,
  appRoute.addChildren([
    dashboardRoute,
    machinesRoute,
    imagesRoute,
    sessionsRoute,
    targetsRoute,
    alertsRoute,
    powerRoute,
    usersRoute,
    groupsRoute,
    auditRoute,
    settingsRoute,
  ]),
]);

export function makeRouter(queryClient: QueryClient) {
  return createRouter({
    routeTree,
    context: { queryClient },
    defaultPreload: 'intent',
    defaultPendingMs: 150,
  });
}

declare module '@tanstack/react-router' {
  interface Register {
    router: ReturnType<typeof makeRouter>;
  }
}
