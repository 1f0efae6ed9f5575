import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Backup, BackupStatus } from '@ggnet/contracts';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { BackupsPanel } from './backups-panel';

const backup = (id: string, o: Partial<Backup> = {}): Backup => ({
  id,
  file: `ggnet-backup-2026-01-0${id}T03-00-00-000Z-scheduled-abcdef.tar.gz`,
  trigger: 'scheduled',
  state: 'done',
  sizeBytes: 3 * 1024 * 1024,
  schema: '0005-backups',
  dialect: 'sqlite',
  error: null,
  createdBy: null,
  createdAt: new Date(Date.now() - 3600_000).toISOString(),
  finishedAt: new Date(Date.now() - 3590_000).toISOString(),
  present: true,
  ...o,
});

const status: BackupStatus = {
  dir: '/var/lib/ggnet/backups',
  daily: true,
  hour: 3,
  keep: 7,
  lastSuccessAt: new Date(Date.now() - 3600_000).toISOString(),
  lastFailure: { at: new Date(Date.now() - 60_000).toISOString(), error: 'No space left on device' },
  totalBytes: 5 * 1024 * 1024,
};

afterEach(() => vi.unstubAllGlobals());

describe('<BackupsPanel>', () => {
  it('shows the schedule, the last failure, and each backup with its size and time; backs up on demand', async () => {
    const f = fakeFetch([
      ['GET /api/v1/backups/status', 200, status],
      [
        'GET /api/v1/backups',
        200,
        {
          items: [
            backup('2', { trigger: 'manual', createdBy: 'admin', sizeBytes: 2 * 1024 * 1024 }),
            backup('1', {
              state: 'failed',
              sizeBytes: null,
              error: 'pg_dump exited with code 1',
              present: false,
            }),
          ],
          total: 2,
        },
      ],
      ['POST /api/v1/backups', 202, backup('3', { state: 'queued', trigger: 'manual', sizeBytes: null })],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<BackupsPanel />);
    expect(await screen.findByTestId('backup-status')).toHaveTextContent(
      'Daily at 03:00, the last 7 kept · last success 1 h ago · 5.0 MiB in /var/lib/ggnet/backups',
    );
    expect(screen.getByText(/The last backup failed/)).toBeInTheDocument();
    expect(screen.getByText('No space left on device')).toBeInTheDocument();
    const table = await screen.findByTestId('backups-table');
    const row = (id: string) => table.querySelector<HTMLElement>(`tr[data-backup="${id}"]`)!;
    expect(row('2')).toHaveTextContent('by hand');
    expect(row('2')).toHaveTextContent('2.0 MiB');
    expect(row('2')).toHaveTextContent('done');
    expect(row('1')).toHaveTextContent('failed');
    // a failed backup has no file to download
    expect(within(row('1')).getByRole('button', { name: /Download/ })).toBeDisabled();
    expect(within(row('2')).getByRole('button', { name: /Download/ })).toBeEnabled();

    await userEvent.setup().click(screen.getByTestId('backup-now'));
    await waitFor(() =>
      expect(f.calls.some((c) => c.method === 'POST' && c.url === '/api/v1/backups')).toBe(true),
    );
  });

  it('says so when there is no backup yet', async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch([
        [
          'GET /api/v1/backups/status',
          200,
          { ...status, lastSuccessAt: null, lastFailure: null, totalBytes: 0 },
        ],
        ['GET /api/v1/backups', 200, { items: [], total: 0 }],
      ]).fn,
    );
    renderWithProviders(<BackupsPanel />);
    expect(await screen.findByText('No backups yet.')).toBeInTheDocument();
    expect(screen.getByTestId('backup-status')).toHaveTextContent('no backup yet');
  });
});
