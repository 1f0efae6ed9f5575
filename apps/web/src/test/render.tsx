// Shared set-up of the component tests (jsdom): jest-dom matchers, the browser APIs Mantine needs,
// and render() inside the app's providers.
import '@testing-library/jest-dom/vitest';
import type { ReactElement, ReactNode } from 'react';
import { afterEach } from 'vitest';
import { cleanup, configure, render } from '@testing-library/react';
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createMemoryHistory, createRootRoute, createRouter, RouterProvider } from '@tanstack/react-router';

if (!window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => undefined,
      removeListener: () => undefined,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      dispatchEvent: () => false,
    }) as MediaQueryList;
}
if (!('ResizeObserver' in window)) {
  (window as unknown as { ResizeObserver: unknown }).ResizeObserver = class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
}
if (!('scrollIntoView' in Element.prototype))
  Object.assign(Element.prototype, { scrollIntoView: () => undefined });
// jsdom has no layout: the router's scroll restoration calls scrollTo
window.scrollTo = () => undefined;

afterEach(() => cleanup());
// pages render behind lazy queries and a router; on a busy 2-core machine the default 1 s is short,
// and 5 s was short once too (a Mantine menu under a boot-storm benchmark): the test timeout is 20 s
configure({ asyncUtilTimeout: 15_000 });

export function renderWithProviders(
  ui: ReactElement,
  qc = new QueryClient({ defaultOptions: { queries: { retry: false } } }),
) {
  const Wrapper = ({ children }: { children: ReactNode }) => (
    <MantineProvider>
      <QueryClientProvider client={qc}>{children}</QueryClientProvider>
    </MantineProvider>
  );
  return { qc, ...render(ui, { wrapper: Wrapper }) };
}

/**
 * Renders `ui` as the only route of a router at `url`, for components that read the URL's search
 * (`validateSearch` as their route has it) or navigate; `router.state.location` shows where they went.
 */
export function renderInRouter(
  ui: ReactElement,
  opts: { url?: string; validateSearch?: (s: Record<string, unknown>) => object } = {},
) {
  const root = createRootRoute({ component: () => ui, validateSearch: opts.validateSearch });
  const router = createRouter({
    routeTree: root,
    history: createMemoryHistory({ initialEntries: [opts.url ?? '/'] }),
  });
  return { router, ...renderWithProviders(<RouterProvider router={router} />) };
}

/** A fetch stub that answers from a list of [method path-prefix, status, body] routes and records calls. */
export function fakeFetch(routes: Array<[string, number, unknown, Record<string, string>?]>) {
  const calls: Array<{ method: string; url: string; body: unknown; headers: Record<string, string> }> = [];
  const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    calls.push({ method, url, body, headers: (init?.headers ?? {}) as Record<string, string> });
    const route = routes.find(([m]) => {
      const [rm, rp] = m.split(' ') as [string, string];
      return rm === method && url.startsWith(rp);
    });
    if (!route)
      return new Response(JSON.stringify({ code: 'not_found', detail: `no route ${method} ${url}` }), {
        status: 404,
      });
    const [, status, resBody, headers] = route;
    return new Response(resBody === undefined ? null : JSON.stringify(resBody), {
      status,
      headers: {
        'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
        ...headers,
      },
    });
  }) as typeof fetch;
  return { fn, calls };
}
