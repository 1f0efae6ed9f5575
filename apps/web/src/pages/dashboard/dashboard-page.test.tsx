import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { BootStats, StorageSummary } from '@ggnet/contracts';
import { eventFeed } from '../../live/event-feed';
import { aJob, aSession, page } from '../../test/fixtures';
import { fakeFetch, renderInRouter, renderWithProviders } from '../../test/render';
import { DashboardPage } from './dashboard-page';
import { JobsCard } from './jobs-card';
import { RecentEvents } from './recent-events';
import { StorageCard } from './storage-card';

vi.mock('../../api/use-auth', () => ({ useCan: () => true, useAuth: () => null }));

afterEach(() => {
  vi.unstubAllGlobals();
  eventFeed.clear();
});

const GiB = 1024 ** 3;
const storage = (extra: Partial<StorageSummary> = {}): StorageSummary => ({
  backend: 'reflink',
  detected: true,
  warning: null,
  root: '/var/lib/ggnet',
  totalBytes: 100 * GiB,
  freeBytes: 40 * GiB,
  reserveBytes: 10 * GiB,
  belowReserve: false,
  versionBytes: 35 * GiB,
  writebackBytes: 5 * GiB,
  writebackCount: 3,
  images: [],
  ...extra,
});

const stats: BootStats = {
  since: '2026-11-24T10:00:00.000Z',
  sessions: 12,
  completed: 10,
  p50Ms: 21_000,
  p95Ms: 34_000,
  phasesP50Ms: { dhcp: 2000, tftp: 1000, script: 500, iscsi: 3000, os: 14_000 },
  images: [],
  slowestMachines: [{ machineId: 'm7', machineName: 'pc-07', boots: 2, p50Ms: 40_000, maxMs: 52_000 }],
};

describe('<DashboardPage>', () => {
  it('counts machines by status and live sessions; boot statistics and activity from the server', async () => {
    const recent = new Date(Date.now() - 30_000).toISOString();
    vi.stubGlobal(
      'fetch',
      fakeFetch([
        ['GET /api/v1/machines?limit=1&status=online', 200, page([], 42)],
        ['GET /api/v1/machines?limit=1&status=pending', 200, page([], 2)],
        ['GET /api/v1/machines', 200, page([], 0)],
        ['GET /api/v1/sessions?live=true&limit=1', 200, page([], 40)],
        ['GET /api/v1/sessions', 200, page([aSession({ startedAt: recent, activeAt: recent })])],
        ['GET /api/v1/storage', 200, storage()],
        ['GET /api/v1/jobs', 200, page([])],
        ['GET /api/v1/boot/stats', 200, stats],
        [
          'GET /api/v1/boot/events',
          200,
          page([
            {
              id: 1,
              at: recent,
              mac: '52:54:00:aa:bb:07',
              machineId: null,
              sessionId: null,
              kind: 'dhcp_discover',
              detail: { ip: '192.168.50.107', result: 'no_offer' },
            },
          ]),
        ],
      ]).fn,
    );
    renderInRouter(<DashboardPage />);
    await waitFor(() =>
      expect(within(screen.getByTestId('count-online')).getByTestId('count-value')).toHaveTextContent('42'),
    );
    expect(within(screen.getByTestId('count-pending')).getByTestId('count-value')).toHaveTextContent('2');
    await waitFor(() =>
      expect(within(screen.getByTestId('count-sessions')).getByTestId('count-value')).toHaveTextContent('40'),
    );
    const bootStats = await screen.findByTestId('boot-stats');
    expect(bootStats).toHaveTextContent('p50 21.0 s · p95 34.0 s · 10/12 boots reached the OS');
    const slow = within(bootStats).getByText('pc-07').closest('tr')!;
    expect(
      within(slow)
        .getAllByRole('cell')
        .map((c) => c.textContent),
    ).toEqual(['pc-07', '2', '40.0 s', '52.0 s']);
    const activity = await screen.findByTestId('boot-activity');
    expect(activity).toHaveTextContent('dhcp discover');
    expect(activity).toHaveTextContent('no offer');
    expect(activity).toHaveTextContent('192.168.50.107');
    expect(screen.getByText(/1 boots · median/)).toBeInTheDocument();
  });
});

describe('dashboard cards', () => {
  it('StorageCard: the bar in figures, below the reserve, the backend warning', async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch([
        [
          'GET /api/v1/storage',
          200,
          storage({ freeBytes: 5 * GiB, belowReserve: true, warning: 'copy backend: a full copy per boot' }),
        ],
      ]).fn,
    );
    renderWithProviders(<StorageCard />);
    const card = screen.getByTestId('storage-card');
    await waitFor(() => expect(card).toHaveTextContent('95.0 GiB used of 100 GiB'));
    expect(card).toHaveTextContent('5.0 GiB free · reserve 10.0 GiB');
    expect(card).toHaveTextContent('new boots are refused');
    expect(card).toHaveTextContent('copy backend: a full copy per boot');
    expect(card).toHaveTextContent('reflink');
  });

  it('StorageCard: a server without storage accounting says so; an error says why', async () => {
    vi.stubGlobal('fetch', fakeFetch([]).fn);
    const { unmount } = renderWithProviders(<StorageCard />);
    expect(
      await screen.findByText('Storage accounting is not available from this server yet.'),
    ).toBeInTheDocument();
    unmount();
    vi.stubGlobal(
      'fetch',
      fakeFetch([['GET /api/v1/storage', 500, { code: 'internal', detail: 'statfs failed' }]]).fn,
    );
    renderWithProviders(<StorageCard />);
    expect(await screen.findByText('statfs failed')).toBeInTheDocument();
  });

  it('JobsCard: running and queued jobs; an operator cancels one', async () => {
    const f = fakeFetch([
      ['GET /api/v1/jobs?state=running', 200, page([aJob()])],
      [
        'GET /api/v1/jobs?state=queued',
        200,
        page([aJob({ id: 'j2', state: 'queued', cancelRequested: true })]),
      ],
      ['POST /api/v1/jobs/j1/cancel', 200, aJob({ cancelRequested: true })],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<JobsCard />);
    const card = screen.getByTestId('jobs-card');
    await waitFor(() => expect(within(card).getAllByTestId('job-progress')).toHaveLength(2));
    expect(card).toHaveTextContent('Convert image win11');
    expect(card).toHaveTextContent('cancelling…');
    await userEvent.setup().click(within(card).getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(f.calls.some((c) => c.url === '/api/v1/jobs/j1/cancel')).toBe(true));
  });

  it('JobsCard: nothing running', async () => {
    vi.stubGlobal('fetch', fakeFetch([['GET /api/v1/jobs', 200, page([])]]).fn);
    renderWithProviders(<JobsCard />);
    expect(await screen.findByText('No jobs running.')).toBeInTheDocument();
  });

  it('RecentEvents: live events with what they are about, newest first', () => {
    renderWithProviders(<RecentEvents />);
    expect(screen.getByText(/Nothing has happened since this page opened/)).toBeInTheDocument();
    act(() => {
      eventFeed.push({ type: 'machine.created', id: 'm1', data: { id: 'm1', name: 'pc-01' } });
      eventFeed.push({ type: 'job.progress', id: 'j1', data: {} });
      eventFeed.push({ type: 'user.deleted', id: 'u9', data: null });
    });
    const rows = within(screen.getByTestId('recent-events')).getAllByRole('row');
    expect(rows.map((r) => r.textContent)).toEqual([
      'just nowuser.deletedu9',
      'just nowmachine.createdpc-01',
    ]);
  });
});
