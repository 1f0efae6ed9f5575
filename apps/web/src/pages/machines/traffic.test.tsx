import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, screen, waitFor, within } from '@testing-library/react';
import type { TrafficPoint, TrafficSample, TrafficSnapshot } from '@ggnet/contracts';
import { Sparkline } from '../../components/sparkline';
import { applyEvent } from '../../live/apply-event';
import { aMachine, aSession, anImage, page } from '../../test/fixtures';
import { fakeFetch, renderInRouter, renderWithProviders } from '../../test/render';
import { TrafficCard } from '../dashboard/traffic-card';
import { MachinesPage } from './machines-page';
import { validateMachinesSearch } from './machines-search';

vi.mock('../../api/use-auth', () => ({ useCan: () => true, useAuth: () => null }));

afterEach(() => vi.unstubAllGlobals());

const MB = 1_000_000;
const at = (i: number) => new Date(Date.UTC(2026, 11, 3, 15, 0, i * 3)).toISOString();
const point = (i: number, read: number, write: number): TrafficPoint => ({
  at: at(i),
  readBytesPerSec: read,
  writeBytesPerSec: write,
});
const traffic = (read: number, write: number, i = 2) => ({
  readBytes: 900 * MB,
  writtenBytes: 40 * MB,
  readBytesPerSec: read,
  writeBytesPerSec: write,
  sampledAt: at(i),
});
const snapshot: TrafficSnapshot = {
  sampledAt: at(2),
  intervalSec: 3,
  total: [point(0, 0, 0), point(1, 50 * MB, 1 * MB), point(2, 120 * MB, 2 * MB)],
  machines: [
    {
      machineId: 'm1',
      machineName: 'pc-01',
      sessionId: 's1',
      traffic: traffic(120 * MB, 2 * MB),
      history: [point(0, 0, 0), point(1, 50 * MB, 1 * MB), point(2, 120 * MB, 2 * MB)],
    },
  ],
};

function setup() {
  const f = fakeFetch([
    ['GET /api/v1/machines?limit=1&status=pending', 200, page([], 0)],
    [
      'GET /api/v1/machines',
      200,
      page([
        aMachine({ id: 'm1', name: 'pc-01', status: 'online', sessionId: 's1' }),
        aMachine({ id: 'm2', name: 'pc-02', mac: '52:54:00:aa:bb:02' }),
      ]),
    ],
    ['GET /api/v1/images', 200, page([anImage()])],
    ['GET /api/v1/sessions', 200, page([aSession({ machineId: 'm1' })])],
    ['GET /api/v1/traffic', 200, snapshot],
  ]);
  vi.stubGlobal('fetch', f.fn);
  return renderInRouter(<MachinesPage />, { url: '/machines', validateSearch: validateMachinesSearch });
}

describe('traffic in the console', () => {
  it('the machines table has a Traffic column: rates and a sparkline of the recent samples per machine', async () => {
    setup();
    const table = await screen.findByTestId('machines-table');
    expect(within(table).getByRole('columnheader', { name: 'Traffic' })).toBeInTheDocument();
    const row = table.querySelector<HTMLElement>('tr[data-machine="pc-01"]')!;
    const cell = await within(row).findByTestId('traffic-cell');
    expect(cell).toHaveTextContent('↓ 114 MiB/s');
    expect(cell).toHaveTextContent('↑ 1.9 MiB/s');
    expect(cell).toHaveAttribute('title', expect.stringContaining('read 858 MiB, written 38.1 MiB'));
    const spark = within(cell).getByTestId('sparkline');
    expect(spark.querySelector('path[data-series="read"]')!.getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+ L/);
    // a machine without a live session shows nothing
    const other = table.querySelector<HTMLElement>('tr[data-machine="pc-02"]')!;
    expect(within(other).queryByTestId('traffic-cell')).toBeNull();
  });

  it('a traffic.sample event updates the rates and extends the sparkline without a refetch', async () => {
    const { qc } = setup();
    const table = await screen.findByTestId('machines-table');
    const row = table.querySelector<HTMLElement>('tr[data-machine="pc-01"]')!;
    await within(row).findByTestId('traffic-cell');
    const sample: TrafficSample = {
      at: at(3),
      total: point(3, 10 * MB, 30 * MB),
      machines: [
        { machineId: 'm1', machineName: 'pc-01', sessionId: 's1', traffic: traffic(10 * MB, 30 * MB, 3) },
      ],
    };
    const invalidate = vi.fn();
    act(() => applyEvent(qc, { type: 'traffic.sample', id: 'room', data: sample }, invalidate));
    await waitFor(() => expect(within(row).getByTestId('traffic-cell')).toHaveTextContent('↑ 28.6 MiB/s'));
    expect(invalidate).not.toHaveBeenCalled();
    const cached = qc.getQueryData<TrafficSnapshot>(['traffic'])!;
    expect(cached.total).toHaveLength(4);
    expect(cached.machines[0]!.history.map((p) => p.writeBytesPerSec)).toEqual([0, MB, 2 * MB, 30 * MB]);
    // the session ended: the machine leaves the sample, its cell empties
    act(() =>
      applyEvent(
        qc,
        { type: 'traffic.sample', id: 'room', data: { ...sample, at: at(4), machines: [] } },
        invalidate,
      ),
    );
    await waitFor(() => expect(within(row).queryByTestId('traffic-cell')).toBeNull());
  });

  it("the dashboard's card shows the room's throughput now and its chart", async () => {
    vi.stubGlobal('fetch', fakeFetch([['GET /api/v1/traffic', 200, snapshot]]).fn);
    renderWithProviders(<TrafficCard />);
    expect(await screen.findByTestId('room-read')).toHaveTextContent('↓ read 114 MiB/s');
    expect(screen.getByTestId('room-write')).toHaveTextContent('↑ write 1.9 MiB/s');
    expect(screen.getByTestId('traffic-card')).toHaveTextContent('1 client · 3 min');
    expect(
      within(screen.getByTestId('room-chart')).getByRole('img', { name: 'room throughput' }),
    ).toBeInTheDocument();
  });

  it('the dashboard card says so when the server has no traffic endpoint', async () => {
    vi.stubGlobal('fetch', fakeFetch([]).fn);
    renderWithProviders(<TrafficCard />);
    expect(await screen.findByText(/not available from this server/)).toBeInTheDocument();
  });

  it('Sparkline scales to the largest value: the peak touches the top, 0 the bottom', () => {
    renderWithProviders(
      <Sparkline points={[point(0, 0, 0), point(1, 100, 50), point(2, 0, 0)]} width={100} height={22} />,
    );
    const d = screen.getByTestId('sparkline').querySelector('path[data-series="read"]')!.getAttribute('d')!;
    expect(d).toBe('M0.0,21.0 L50.0,1.0 L100.0,21.0 L100.0,22 L0.0,22 Z');
    const w = screen.getByTestId('sparkline').querySelector('path[data-series="write"]')!.getAttribute('d');
    expect(w).toBe('M0.0,21.0 L50.0,11.0 L100.0,21.0');
  });
});
