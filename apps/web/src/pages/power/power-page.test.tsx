import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Schedule } from '@ggnet/contracts';
import { aGroup, aMachine, page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { PowerPage } from './power-page';

const role = vi.hoisted(() => ({ canWrite: true }));
vi.mock('../../api/use-auth', () => ({ useCan: () => role.canWrite, useAuth: () => null }));

afterEach(() => {
  vi.unstubAllGlobals();
  role.canWrite = true;
});

const opening: Schedule = {
  id: 's1',
  name: 'Opening',
  enabled: true,
  action: 'wake',
  days: ['mon', 'tue', 'wed', 'thu', 'fri'],
  times: ['09:00'],
  target: { all: true },
  nextAt: '2026-12-07T08:00:00.000Z',
  timeZone: 'Europe/Berlin',
  lastRun: {
    slot: '2026-12-04T08:00:00.000Z',
    at: '2026-12-04T08:00:01.000Z',
    outcome: 'fired',
    lateSec: 1,
    machines: 12,
    noAgent: 0,
    skipped: 0,
    error: null,
  },
  createdAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:00:00.000Z',
};

function setup() {
  const f = fakeFetch([
    ['GET /api/v1/power/schedules', 200, { items: [opening], timeZone: 'Europe/Berlin' }],
    [
      'GET /api/v1/machines',
      200,
      page([aMachine({ id: 'm1', name: 'pc-01' }), aMachine({ id: 'm2', name: 'pc-02' })]),
    ],
    ['GET /api/v1/groups', 200, page([aGroup({ id: 'g1', name: 'vip-room' })])],
    ['POST /api/v1/power/schedules', 201, { ...opening, id: 's2', name: 'Closing' }],
    ['PATCH /api/v1/power/schedules/s1', 200, { ...opening, enabled: false }],
    [
      'POST /api/v1/machines/wake',
      202,
      { queued: 2, skipped: [], broadcast: '10.0.0.255', port: 9, sourceAddress: null, etaSec: 0.1 },
    ],
  ]);
  vi.stubGlobal('fetch', f.fn);
  renderWithProviders(<PowerPage />);
  return f.calls;
}

describe('<PowerPage>', () => {
  it('lists schedules with their days, times, next slot and last run, in the site time zone', async () => {
    setup();
    const row = (await screen.findByTestId('schedules-table')).querySelector<HTMLElement>(
      'tr[data-schedule="Opening"]',
    )!;
    expect(row).toHaveTextContent('Mon Tue Wed Thu Fri at 09:00');
    expect(row).toHaveTextContent('12 woken');
    expect(screen.getByText('Europe/Berlin')).toBeInTheDocument();
  });

  it('creates a shutdown schedule for chosen machines, checking times first', async () => {
    const calls = setup();
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'New schedule' }));
    const dialog = await screen.findByRole('dialog');
    await u.type(within(dialog).getByLabelText('Name'), 'Closing');
    await u.click(within(dialog).getByText('Shut down'));
    expect(dialog).toHaveTextContent('no agent');
    await u.click(within(dialog).getByText('Sat'));
    const times = within(dialog).getByLabelText(/Times/);
    await u.type(times, '25:00{Enter}');
    await u.click(within(dialog).getByRole('button', { name: 'Create' }));
    expect(await within(dialog).findByText(/25:00: times are HH:MM/)).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
    // remove the bad time (the tags input's last tag) and give a good one
    await u.type(times, '{Backspace}23:30{Enter}');
    await u.click(within(dialog).getByText('Chosen machines'));
    await u.click(within(dialog).getByRole('textbox', { name: 'Machines' }));
    await u.click(await screen.findByRole('option', { name: 'pc-02', hidden: true }));
    await u.click(within(dialog).getByRole('button', { name: 'Create' }));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'POST')?.body).toEqual({
        name: 'Closing',
        enabled: true,
        action: 'shutdown',
        days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
        times: ['09:00', '23:30'],
        target: { machineIds: ['m2'] },
      }),
    );
  });

  it("wakes a group's machines on a schedule: the group is chosen by name", async () => {
    const calls = setup();
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'New schedule' }));
    const dialog = await screen.findByRole('dialog');
    await u.type(within(dialog).getByLabelText('Name'), 'VIP opening');
    await u.click(within(dialog).getByText('A group'));
    await u.click(within(dialog).getByRole('button', { name: 'Create' }));
    expect(await within(dialog).findByText('choose a group')).toBeInTheDocument();
    await u.click(within(dialog).getByRole('textbox', { name: 'Group' }));
    await u.click(await screen.findByRole('option', { name: 'vip-room', hidden: true }));
    await u.click(within(dialog).getByRole('button', { name: 'Create' }));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'POST')?.body).toMatchObject({
        name: 'VIP opening',
        action: 'wake',
        target: { groupId: 'g1' },
      }),
    );
  });

  it('switches a schedule off and wakes all after asking', async () => {
    const calls = setup();
    const u = userEvent.setup();
    await u.click(await screen.findByLabelText('Enable Opening'));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'PATCH')).toMatchObject({ body: { enabled: false } }),
    );
    await u.click(screen.getByRole('button', { name: 'Wake all' }));
    const dialog = await screen.findByRole('dialog');
    await u.click(within(dialog).getByRole('button', { name: 'Wake all' }));
    await waitFor(() =>
      expect(calls.find((c) => c.url === '/api/v1/machines/wake')?.body).toEqual({ all: true }),
    );
  });
});
