import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Notifications } from '@mantine/notifications';
import type { MaintenanceAccess } from '@ggnet/contracts';
import { auth } from '../api/client';
import { bootAlert, showBootAlert } from '../live/boot-alerts';
import { fakeFetch, renderWithProviders } from '../test/render';
import { MaintenanceRequestsCard } from './dashboard/maintenance-requests';
import { MaintenancePinCard } from './settings/maintenance-pin-card';

const request = {
  id: 'r1',
  machineId: 'm1',
  machineName: 'pc-07',
  mac: '52:54:00:07:07:07',
  ip: '10.0.0.7',
  requestedAt: new Date().toISOString(),
  lastSeenAt: new Date().toISOString(),
  state: 'pending' as const,
  decidedBy: null,
  decidedAt: null,
};
const access = (extra: Partial<MaintenanceAccess> = {}): MaintenanceAccess => ({
  pinSet: false,
  approval: true,
  offered: true,
  requests: [request],
  ...extra,
});
const login = (role: 'viewer' | 'operator' | 'admin'): [string, number, unknown] => [
  'POST /api/v1/auth/login',
  200,
  {
    accessToken: 'a',
    refreshToken: 'r',
    expiresIn: 900,
    user: { id: 'u', username: role, role, disabled: false },
  },
];

afterEach(async () => {
  await auth.logout().catch(() => undefined);
  vi.unstubAllGlobals();
});

describe('boot network security in the console', () => {
  it('an operator approves a PC that waits at its boot menu', async () => {
    const f = fakeFetch([
      login('operator'),
      ['GET /api/v1/boot/maintenance', 200, access()],
      ['POST /api/v1/boot/maintenance/requests/r1/approve', 200, { ...request, state: 'approved' }],
    ]);
    vi.stubGlobal('fetch', f.fn);
    await auth.login('operator', 'x');
    renderWithProviders(<MaintenanceRequestsCard />);
    const row = await screen.findByTestId('maintenance-request-r1');
    expect(row).toHaveTextContent('pc-07');
    expect(row).toHaveTextContent('10.0.0.7');
    await userEvent.click(screen.getByRole('button', { name: 'Approve' }));
    await waitFor(() =>
      expect(f.calls.some((c) => c.method === 'POST' && c.url.endsWith('/requests/r1/approve'))).toBe(true),
    );
  });

  it('a viewer does not see the requests (and does not ask for them)', async () => {
    const f = fakeFetch([login('viewer'), ['GET /api/v1/boot/maintenance', 200, access()]]);
    vi.stubGlobal('fetch', f.fn);
    await auth.login('viewer', 'x');
    renderWithProviders(<MaintenanceRequestsCard />);
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.queryByTestId('maintenance-requests')).toBeNull();
    expect(f.calls.filter((c) => c.url.includes('/boot/maintenance'))).toHaveLength(0);
  });

  it('the PIN card: set / not set, digits only, the PIN is sent once and the field cleared', async () => {
    const f = fakeFetch([
      login('admin'),
      ['GET /api/v1/boot/maintenance', 200, access({ pinSet: false, requests: [] })],
      ['PUT /api/v1/boot/maintenance/pin', 200, { pinSet: true }],
    ]);
    vi.stubGlobal('fetch', f.fn);
    await auth.login('admin', 'x');
    renderWithProviders(<MaintenancePinCard />);
    await waitFor(() => expect(screen.getByTestId('pin-state')).toHaveTextContent('not set'));
    const input = screen.getByTestId('pin-input');
    await userEvent.type(input, '12ab');
    await userEvent.click(screen.getByTestId('pin-save'));
    expect(await screen.findByText(/4 to 12 digits/)).toBeInTheDocument();
    expect(f.calls.filter((c) => c.method === 'PUT')).toHaveLength(0);
    await userEvent.clear(input);
    await userEvent.type(input, '482916');
    await userEvent.click(screen.getByTestId('pin-save'));
    await waitFor(() => expect(f.calls.find((c) => c.method === 'PUT')?.body).toEqual({ pin: '482916' }));
    await waitFor(() => expect(input).toHaveValue(''));
  });

  it('toasts for a registration cap and a maintenance request; nothing for ordinary events', async () => {
    expect(
      bootAlert({
        type: 'machine.registration_capped',
        id: 'per_hour',
        data: {
          reason: 'per_hour',
          setting: 'machines.registerPerHour',
          cap: 250,
          refused: 12,
          mac: '02:00:00:00:00:01',
          ip: '10.9.0.1',
        },
      }),
    ).toMatchObject({
      color: 'orange',
      message: expect.stringMatching(/too many new PCs.*registerPerHour = 250.*12 refused/),
    });
    expect(bootAlert({ type: 'machine.updated', id: 'm1', data: { id: 'm1' } })).toBeNull();
    renderWithProviders(<Notifications />);
    act(() => showBootAlert({ type: 'boot.maintenance_requested', id: 'r1', data: request }));
    expect(await screen.findByText(/pc-07 \(10\.0\.0\.7\) asks for maintenance/)).toBeInTheDocument();
  });
});
