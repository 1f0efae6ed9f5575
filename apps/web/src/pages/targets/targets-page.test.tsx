import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { aMachine, anImage, aTarget, page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { NewTargetModal } from './new-target-modal';
import { TargetsPage } from './targets-page';

const role = vi.hoisted(() => ({ admin: true }));
vi.mock('../../api/use-auth', () => ({
  useCan: (r: string) => (r === 'admin' ? role.admin : true),
  useAuth: () => null,
}));

afterEach(() => {
  vi.unstubAllGlobals();
  role.admin = true;
});

function setup() {
  const target = aTarget({
    allowedAddress: '192.168.50.101',
    connections: [{ initiator: 'iqn.2024-01.lan.ggnet:init-pc-01', address: '192.168.50.101' }],
  });
  const f = fakeFetch([
    ['GET /api/v1/targets/t1?reveal=true', 200, { ...target, chapSecret: 's3cret-s3cret' }],
    ['GET /api/v1/targets', 200, page([target])],
    ['GET /api/v1/images', 200, page([anImage()])],
    ['GET /api/v1/machines', 200, page([aMachine()])],
    ['DELETE /api/v1/targets/t1', 204, undefined],
  ]);
  vi.stubGlobal('fetch', f.fn);
  renderWithProviders(<TargetsPage />);
  return f.calls;
}

describe('<TargetsPage>', () => {
  it('shows LUNs, ACL and who is connected; an admin reveals the CHAP secret', async () => {
    const calls = setup();
    const table = await screen.findByTestId('targets-table');
    await waitFor(() => expect(table).toHaveTextContent('pc-01 · tgt'));
    expect(table).toHaveTextContent('LUN 1 · boot · win11 · 64.0 GiB');
    expect(table).toHaveTextContent('from 192.168.50.101');
    expect(within(table).getByTitle('iqn.2024-01.lan.ggnet:init-pc-01')).toHaveTextContent('192.168.50.101');
    expect(screen.getByTestId('chap-secret')).toHaveTextContent('••••');
    await userEvent.setup().click(screen.getByRole('button', { name: 'Reveal secret' }));
    await waitFor(() => expect(screen.getByTestId('chap-secret')).toHaveTextContent('s3cret-s3cret'));
    expect(calls.some((c) => c.url === '/api/v1/targets/t1?reveal=true')).toBe(true);
    expect(screen.getByRole('button', { name: 'Copy secret' })).toBeInTheDocument();
  });

  it('removes a target, keeping its writeback when asked', async () => {
    const calls = setup();
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'Remove iqn.2024-01.lan.ggnet:pc-01' }));
    expect(await screen.findByText(/A client is logged in right now/)).toBeInTheDocument();
    await u.click(screen.getByLabelText(/Keep its writeback/));
    await u.click(screen.getByRole('button', { name: 'Remove' }));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'DELETE')?.url).toBe('/api/v1/targets/t1?keepWriteback=true'),
    );
  });

  it('an operator sees the targets but cannot create, remove or reveal', async () => {
    role.admin = false;
    setup();
    await screen.findByTestId('targets-table');
    expect(screen.queryByRole('button', { name: 'New target' })).toBeNull();
    expect(screen.queryByRole('button', { name: /^Remove / })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Reveal secret' })).toBeNull();
  });
});

describe('<NewTargetModal>', () => {
  it('creates a target for a machine and shows its CHAP secret once', async () => {
    const f = fakeFetch([['POST /api/v1/targets', 201, aTarget({ chapSecret: 'fresh-secret-1' })]]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(
      <NewTargetModal
        opened
        onClose={() => undefined}
        machines={[{ value: 'm1', label: 'pc-01' }]}
        images={[{ value: 'i1', label: 'win11' }]}
      />,
    );
    const u = userEvent.setup();
    expect(await screen.findByRole('button', { name: 'Create target' })).toBeDisabled();
    await u.click(screen.getByRole('textbox', { name: 'Machine' }));
    // jsdom cannot position the dropdown, so it stays display:none there
    await u.click(await screen.findByRole('option', { name: 'pc-01', hidden: true }));
    await u.type(screen.getByLabelText('Only from address'), ' 192.168.50.9 ');
    await u.click(screen.getByRole('button', { name: 'Create target' }));
    expect(await screen.findByTestId('new-target-secret')).toHaveTextContent('fresh-secret-1');
    expect(f.calls[0]!.body).toEqual({ machineId: 'm1', allowedAddress: '192.168.50.9', mutualChap: false });
  });
});
