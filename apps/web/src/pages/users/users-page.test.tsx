import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { aUser, page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { CreateUser } from './create-user';
import { ResetPassword } from './reset-password';
import { UsersPage } from './users-page';

vi.mock('../../api/use-auth', () => ({
  useCan: () => true,
  useAuth: () => ({ user: { id: 'u0', username: 'admin', role: 'admin' } }),
}));

afterEach(() => vi.unstubAllGlobals());

describe('<UsersPage>', () => {
  it('changes roles and enables of others, never of oneself', async () => {
    const f = fakeFetch([
      ['GET /api/v1/users', 200, page([aUser({ id: 'u0', username: 'admin', role: 'admin' }), aUser()])],
      ['PATCH /api/v1/users/u1', 200, aUser({ disabled: true })],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<UsersPage />);
    const table = await screen.findByTestId('users-table');
    const me = table.querySelector<HTMLElement>('tr[data-user="admin"]')!;
    expect(me).toHaveTextContent('(you)');
    expect(within(me).getByLabelText('Role of admin')).toBeDisabled();
    expect(within(me).getByLabelText('Enable admin')).toBeDisabled();
    expect(within(me).queryByRole('button', { name: 'Delete' })).toBeNull();
    const olga = table.querySelector<HTMLElement>('tr[data-user="olga"]')!;
    expect(olga).toHaveTextContent('never');
    await userEvent.setup().click(within(olga).getByLabelText('Enable olga'));
    await waitFor(() =>
      expect(f.calls.find((c) => c.method === 'PATCH')).toMatchObject({
        url: '/api/v1/users/u1',
        body: { disabled: true },
      }),
    );
  });

  it('deletes a user after asking', async () => {
    const f = fakeFetch([
      ['GET /api/v1/users', 200, page([aUser()])],
      ['DELETE /api/v1/users/u1', 204, undefined],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<UsersPage />);
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'Delete' }));
    expect(await screen.findByText('Delete olga? Their logins end at once.')).toBeInTheDocument();
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(f.calls.some((c) => c.method === 'DELETE')).toBe(true));
  });
});

describe('<CreateUser> and <ResetPassword>', () => {
  it('CreateUser checks name and password first, then sends them lower-cased with the role', async () => {
    const f = fakeFetch([['POST /api/v1/users', 201, aUser({ username: 'kim' })]]);
    vi.stubGlobal('fetch', f.fn);
    const onClose = vi.fn();
    renderWithProviders(<CreateUser opened onClose={onClose} />);
    const u = userEvent.setup();
    await u.type(await screen.findByLabelText('Username'), 'K');
    await u.type(screen.getByLabelText('Password'), 'short');
    await u.click(screen.getByRole('button', { name: 'Create' }));
    expect(screen.getByText(/2-32 characters/)).toBeInTheDocument();
    expect(screen.getByText('at least 8 characters')).toBeInTheDocument();
    expect(f.calls).toHaveLength(0);
    await u.type(screen.getByLabelText('Username'), 'im ');
    await u.type(screen.getByLabelText('Password'), '-enough');
    await u.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(f.calls[0]!.body).toEqual({ username: 'kim', password: 'short-enough', role: 'viewer' });
  });

  it('CreateUser shows the field the server refused', async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch([
        [
          'POST /api/v1/users',
          409,
          {
            code: 'username_taken',
            detail: 'user kim exists',
            errors: [{ path: 'body.username', message: 'taken' }],
          },
        ],
      ]).fn,
    );
    renderWithProviders(<CreateUser opened onClose={() => undefined} />);
    const u = userEvent.setup();
    await u.type(await screen.findByLabelText('Username'), 'kim');
    await u.type(screen.getByLabelText('Password'), 'long-enough');
    await u.click(screen.getByRole('button', { name: 'Create' }));
    expect(await screen.findByText('taken')).toBeInTheDocument();
  });

  it('ResetPassword sends the new password to the user', async () => {
    const f = fakeFetch([['POST /api/v1/users/u1/password', 200, { ok: true }]]);
    vi.stubGlobal('fetch', f.fn);
    const onClose = vi.fn();
    renderWithProviders(<ResetPassword user={aUser()} onClose={onClose} />);
    const u = userEvent.setup();
    await u.type(await screen.findByLabelText('New password'), 'short');
    await u.click(screen.getByRole('button', { name: 'Set password' }));
    expect(screen.getByText('at least 8 characters')).toBeInTheDocument();
    await u.type(screen.getByLabelText('New password'), '-but-now-long');
    await u.click(screen.getByRole('button', { name: 'Set password' }));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(f.calls[0]!.body).toEqual({ password: 'short-but-now-long' });
  });
});
