import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { aMachine, page } from '../../test/fixtures';
import { fakeFetch, renderInRouter, renderWithProviders } from '../../test/render';
import { MachineDrawer } from './machine-drawer';
import { MachinesPage } from './machines-page';
import { validateMachinesSearch } from './machines-search';

const role = vi.hoisted(() => ({ canWrite: true }));
vi.mock('../../api/use-auth', () => ({ useCan: () => role.canWrite, useAuth: () => null }));

afterEach(() => {
  vi.unstubAllGlobals();
  role.canWrite = true;
});

const off = aMachine({ id: 'm1', name: 'pc-01', status: 'offline' });
const on = aMachine({ id: 'm2', name: 'pc-02', mac: '52:54:00:aa:bb:02', status: 'online' });
const result = (queued: number) => ({
  queued,
  skipped: [],
  broadcast: '10.0.0.255',
  port: 9,
  sourceAddress: '10.0.0.1',
  etaSec: 0.05,
});

function setup() {
  const f = fakeFetch([
    ['GET /api/v1/machines?limit=1&status=pending', 200, page([], 0)],
    ['GET /api/v1/machines', 200, page([off, on])],
    ['GET /api/v1/images', 200, page([])],
    ['GET /api/v1/sessions', 200, page([])],
    ['POST /api/v1/machines/m1/wake', 202, result(1)],
    ['POST /api/v1/machines/wake', 202, result(2)],
  ]);
  vi.stubGlobal('fetch', f.fn);
  renderInRouter(<MachinesPage />, { url: '/machines', validateSearch: validateMachinesSearch });
  return f.calls;
}

describe('<MachinesPage> Wake-on-LAN', () => {
  it('wakes an offline machine from its row and the selection from the bulk bar', async () => {
    const calls = setup();
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'Wake pc-01' }));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'POST')).toMatchObject({ url: '/api/v1/machines/m1/wake' }),
    );
    // an online machine has no wake button in its row
    expect(screen.queryByRole('button', { name: 'Wake pc-02' })).toBeNull();

    await u.click(screen.getByRole('checkbox', { name: 'Select all' }));
    await u.click(within(screen.getByTestId('bulk-bar')).getByRole('button', { name: 'Wake' }));
    await waitFor(() =>
      expect(calls.find((c) => c.url === '/api/v1/machines/wake')?.body).toEqual({
        machineIds: ['m1', 'm2'],
      }),
    );
  });

  it('offers no wake button to a viewer', async () => {
    role.canWrite = false;
    setup();
    await screen.findByTestId('machines-table');
    expect(screen.queryByRole('button', { name: 'Wake pc-01' })).toBeNull();
  });
});

describe('<MachineDrawer> last wake', () => {
  it('says when the machine was last woken, by whom and where the packet went', async () => {
    const f = fakeFetch([
      ['GET /api/v1/sessions', 200, page([])],
      [
        'GET /api/v1/boot/events?machineId=m1',
        200,
        page([
          {
            id: 3,
            at: new Date().toISOString(),
            mac: off.mac,
            machineId: 'm1',
            sessionId: null,
            kind: 'wake_sent',
            detail: { by: 'schedule:Opening', broadcast: '10.0.0.255', port: 9 },
          },
        ]),
      ],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<MachineDrawer machine={off} images={[]} groups={[]} onClose={() => undefined} />);
    await waitFor(() =>
      expect(screen.getByTestId('last-wake')).toHaveTextContent(
        'by schedule:Opening (magic packet to 10.0.0.255:9)',
      ),
    );
  });
});
