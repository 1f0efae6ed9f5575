import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { MantineProvider, createTheme } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from '@tanstack/react-router';
import { isApiError } from './api/api-error';
import { auth } from './api/client';
import { LiveProvider } from './live/live-provider';
import { notifyError } from './lib/notify';
import { makeRouter } from './router';

const theme = createTheme({
  primaryColor: 'indigo',
  defaultRadius: 'md',
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
});

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // live events keep data fresh; refetch on focus only as a safety net
      staleTime: 30_000,
      retry: (n, e) => !(isApiError(e) && e.status >= 400 && e.status < 500) && n < 2,
    },
  },
  queryCache: new QueryCache({
    onError: (e, q) => {
      // a background refetch that fails keeps the old data on screen: say so once
      if (q.state.data !== undefined) notifyError(e, 'Could not refresh');
    },
  }),
  mutationCache: new MutationCache({
    onError: (e, _v, _c, m) => {
      if (!m.meta?.silent) notifyError(e);
    },
  }),
});

const router = makeRouter(queryClient);

// a login that ends (refresh refused, logout in another tab) goes back to the login page
auth.subscribe((s) => {
  if (!s) {
    queryClient.clear();
    if (router.state.location.pathname !== '/login') {
      void router.navigate({ to: '/login', search: { redirect: router.state.location.href } });
    }
  }
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto">
      <Notifications position="top-right" />
      <QueryClientProvider client={queryClient}>
        <LiveProvider>
          <RouterProvider router={router} />
        </LiveProvider>
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
