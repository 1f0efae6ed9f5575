import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  createMemoryHistory,
  createRootRoute,
  createRoute,
  createRouter,
  Outlet,
  RouterProvider,
} from '@tanstack/react-router';
import { auth } from '../../api/client';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { LoginPage, loginErrorMessage } from './login-page';
import { ApiError } from '../../api/api-error';

function renderLogin(initial = '/login?redirect=%2Fmachines') {
  const root = createRootRoute({ component: Outlet });
  const login = createRoute({
    getParentRoute: () => root,
    path: '/login',
    validateSearch: (s: Record<string, unknown>) => ({
      redirect: typeof s.redirect === 'string' ? s.redirect : undefined,
    }),
    component: LoginPage,
  });
  const machines = createRoute({
    getParentRoute: () => root,
    path: '/machines',
    component: () => <p>machines page</p>,
  });
  const home = createRoute({ getParentRoute: () => root, path: '/', component: () => <p>home page</p> });
  const router = createRouter({
    routeTree: root.addChildren([login, machines, home]),
    history: createMemoryHistory({ initialEntries: [initial] }),
  });
  renderWithProviders(<RouterProvider router={router} />);
  return router;
}

const user = {
  id: 'u1',
  username: 'admin',
  role: 'admin',
  disabled: false,
  createdAt: '',
  updatedAt: '',
  lastLoginAt: null,
};

afterEach(async () => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
  await auth.logout();
  window.localStorage.clear();
});

describe('<LoginPage>', () => {
  it('says "wrong username or password" and keeps the user on the page', async () => {
    const f = fakeFetch([
      ['POST /api/v1/auth/login', 401, { code: 'invalid_credentials', detail: 'wrong username or password' }],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderLogin();
    const u = userEvent.setup();
    await u.type(await screen.findByLabelText(/Username/), 'admin');
    await u.type(screen.getByLabelText(/Password/), 'nope');
    await u.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByTestId('login-error')).toHaveTextContent('Wrong username or password.');
    expect(screen.getByLabelText(/Password/)).toHaveValue('');
    expect(auth.get()).toBeNull();
  });

  it('on 429 shows the wait from Retry-After and disables the button for that user only', async () => {
    const f = fakeFetch([
      [
        'POST /api/v1/auth/login',
        429,
        { code: 'rate_limited', detail: 'too many login attempts', hint: 'wait 30 s' },
        { 'retry-after': '30' },
      ],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderLogin();
    const u = userEvent.setup();
    await u.type(await screen.findByLabelText(/Username/), 'olga');
    await u.type(screen.getByLabelText(/Password/), 'x');
    await u.click(screen.getByRole('button', { name: 'Log in' }));
    const err = await screen.findByTestId('login-error');
    expect(err).toHaveTextContent('Too many login attempts');
    expect(err).toHaveTextContent(/Try again in (29|30) s/);
    await u.type(screen.getByLabelText(/Password/), 'y');
    expect(screen.getByRole('button', { name: /Wait \d+ s/ })).toBeDisabled();
    // another user name may log in meanwhile
    await u.clear(screen.getByLabelText(/Username/));
    await u.type(screen.getByLabelText(/Username/), 'admin');
    expect(screen.getByRole('button', { name: 'Log in' })).toBeEnabled();
  });

  it('logs in and goes to the page it came for', async () => {
    const f = fakeFetch([['POST /api/v1/auth/login', 200, { accessToken: 'a', expiresIn: 900, user }]]);
    vi.stubGlobal('fetch', f.fn);
    const router = renderLogin();
    const u = userEvent.setup();
    await u.type(await screen.findByLabelText(/Username/), 'admin');
    await u.type(screen.getByLabelText(/Password/), 'secret-pw');
    await u.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByText('machines page')).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/machines');
    expect(auth.get()?.user.username).toBe('admin');
    expect(f.calls[0]!.body).toEqual({ username: 'admin', password: 'secret-pw', refreshIn: 'cookie' });
  });

  it('explains why a login ended on its own', async () => {
    act(() => auth.expire('Your session has expired. Please log in again.'));
    renderLogin('/login');
    expect(await screen.findByTestId('session-ended')).toHaveTextContent('Your session has expired');
    await waitFor(() => expect(screen.getByRole('button', { name: 'Log in' })).toBeDisabled());
  });

  it('messages for other failures', () => {
    expect(loginErrorMessage(new ApiError({ status: 403, code: 'account_disabled', detail: 'x' }))).toMatch(
      /disabled/,
    );
    expect(loginErrorMessage(new ApiError({ status: 0, code: 'network_error', detail: 'x' }))).toMatch(
      /cannot be reached/,
    );
  });
});
