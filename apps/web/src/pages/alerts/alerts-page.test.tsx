import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Alert, CleanupList } from '@ggnet/contracts';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { AlertsPage } from './alerts-page';
import { formatMeasure } from './alerts-panel';

const role = vi.hoisted(() => ({ operator: true }));
vi.mock('../../api/use-auth', () => ({
  useCan: (r: string) => (r === 'viewer' ? true : role.operator),
  useAuth: () => null,
}));

afterEach(() => {
  vi.unstubAllGlobals();
  role.operator = true;
});

const MiB = 1024 * 1024;
const anAlert = (id: string, o: Partial<Alert> = {}): Alert => ({
  id,
  kind: 'writeback.limit',
  severity: 'warning',
  state: 'raised',
  subjectType: 'writeback',
  subjectId: `wb-${id}`,
  subjectName: 'pc-07',
  machineId: 'm-7',
  value: 12 * MiB,
  threshold: 8 * MiB,
  message: 'the writeback of pc-07 owns 12.0 MiB, over its soft limit of 8.0 MiB',
  raisedAt: new Date(Date.now() - 600_000).toISOString(),
  updatedAt: new Date().toISOString(),
  clearedAt: null,
  acknowledgedAt: null,
  acknowledgedBy: null,
  ...o,
});

const cleanup: CleanupList = {
  olderThanDays: 30,
  scheduleEnabled: false,
  totalBytes: 3 * 1024 * MiB,
  items: [
    {
      writebackId: 'wb-old',
      machineId: 'm-3',
      machineName: 'pc-03',
      imageId: 'img-1',
      imageName: 'win11',
      createdAt: '2026-09-01T10:00:00.000Z',
      lastUsedAt: '2026-10-01T10:00:00.000Z',
      ageDays: 63,
      usedBytes: 3 * 1024 * MiB,
    },
  ],
};

function setup() {
  const f = fakeFetch([
    [
      'GET /api/v1/alerts?state=raised',
      200,
      {
        items: [
          anAlert('a1'),
          anAlert('a2', {
            kind: 'array.reserve',
            severity: 'critical',
            subjectType: 'array',
            subjectId: 'root',
            subjectName: '/var/lib/ggnet/writebacks',
            machineId: null,
            value: 5 * 1024 * MiB,
            threshold: 30 * 1024 * MiB,
            message: 'only 5.0 GiB free: below the reserve of 10.0 GiB, new boots are refused',
            acknowledgedAt: new Date().toISOString(),
            acknowledgedBy: 'alice',
          }),
        ],
        total: 2,
      },
    ],
    [
      'GET /api/v1/alerts?state=cleared',
      200,
      { items: [anAlert('a0', { state: 'cleared', clearedAt: new Date().toISOString() })], total: 1 },
    ],
    ['POST /api/v1/alerts/a1/acknowledge', 200, anAlert('a1', { acknowledgedBy: 'op' })],
    ['GET /api/v1/storage/cleanup', 200, cleanup],
    ['POST /api/v1/storage/cleanup', 200, { discarded: ['wb-old'], failed: [] }],
  ]);
  vi.stubGlobal('fetch', f.fn);
  renderWithProviders(<AlertsPage />);
  return f;
}

describe('<AlertsPage>', () => {
  it('lists the open alerts with severity, subject, measure and who acknowledged; an operator acknowledges', async () => {
    const f = setup();
    const table = await screen.findByTestId('alerts-table');
    const row = (id: string) => table.querySelector<HTMLElement>(`tr[data-alert="${id}"]`)!;
    expect(row('a1')).toHaveTextContent('warning');
    expect(row('a1')).toHaveTextContent('Writeback over its limit: pc-07');
    expect(row('a1')).toHaveTextContent('12.0 MiB of 8.0 MiB');
    expect(row('a1')).toHaveTextContent('10 min ago');
    expect(row('a2')).toHaveTextContent('critical');
    expect(row('a2')).toHaveTextContent('new boots are refused');
    expect(within(row('a2')).getByTestId('acknowledged')).toHaveTextContent('acknowledged by alice');
    expect(within(row('a2')).queryByRole('button', { name: /Acknowledge/ })).toBeNull();

    await userEvent.setup().click(within(row('a1')).getByRole('button', { name: /Acknowledge/ }));
    await waitFor(() =>
      expect(f.calls.some((c) => c.method === 'POST' && c.url === '/api/v1/alerts/a1/acknowledge')).toBe(
        true,
      ),
    );
  });

  it('a viewer sees the alerts but no Acknowledge or Clean up button', async () => {
    role.operator = false;
    setup();
    const table = await screen.findByTestId('alerts-table');
    expect(within(table).queryByRole('button', { name: /Acknowledge/ })).toBeNull();
    await screen.findByTestId('cleanup-table');
    expect(screen.queryByTestId('cleanup-now')).toBeNull();
  });

  it('shows the history of cleared alerts', async () => {
    setup();
    await screen.findByTestId('alerts-table');
    await userEvent.setup().click(screen.getByText('Cleared'));
    await waitFor(() =>
      expect(screen.getByTestId('alerts-table').querySelector('tr[data-alert="a0"]')).not.toBeNull(),
    );
  });

  it('lists old kept writebacks and cleans them up after a confirmation', async () => {
    const f = setup();
    const table = await screen.findByTestId('cleanup-table');
    expect(table.querySelector('tr[data-writeback="wb-old"]')).toHaveTextContent('pc-03');
    expect(table.querySelector('tr[data-writeback="wb-old"]')).toHaveTextContent('63 days ago');
    expect(table.querySelector('tr[data-writeback="wb-old"]')).toHaveTextContent('3.0 GiB');
    expect(screen.getByTestId('cleanup-status')).toHaveTextContent(
      'Unused for 30 days or more · scheduled cleanup off',
    );
    const user = userEvent.setup();
    await user.click(screen.getByTestId('cleanup-now'));
    expect(f.calls.some((c) => c.method === 'POST' && c.url === '/api/v1/storage/cleanup')).toBe(false);
    await user.click(await screen.findByRole('button', { name: 'Discard' }));
    await waitFor(() =>
      expect(f.calls.some((c) => c.method === 'POST' && c.url === '/api/v1/storage/cleanup')).toBe(true),
    );
  });

  it('formats each measure as people read it', () => {
    expect(formatMeasure({ kind: 'array.usage', value: 91.234, threshold: 85 })).toBe(
      '91.2 % (threshold 85 %)',
    );
    expect(formatMeasure({ kind: 'array.reserve', value: 5 * 1024 * MiB, threshold: 30 * 1024 * MiB })).toBe(
      '5.0 GiB free (warn below 30.0 GiB)',
    );
  });
});
