import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { anAuditEntry, page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { AuditPage } from './audit-page';

afterEach(() => vi.unstubAllGlobals());

describe('<AuditPage>', () => {
  it('lists entries and asks the server again with the filters (debounced, from the first page)', async () => {
    const f = fakeFetch([
      [
        'GET /api/v1/audit',
        200,
        page(
          [anAuditEntry(), anAuditEntry({ id: 2, statusCode: 409, username: null, targetType: null })],
          120,
        ),
      ],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<AuditPage />);
    const table = await screen.findByTestId('audit-table');
    expect(table).toHaveTextContent('machine.create');
    expect(table).toHaveTextContent('POST /api/v1/machines');
    expect(screen.getByText('120 entries')).toBeInTheDocument();
    expect(screen.getByText('409').closest('tr')).toHaveTextContent('—');
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: '3' }));
    await waitFor(() => expect(f.calls.some((c) => c.url.includes('offset=100'))).toBe(true));
    await u.type(screen.getByLabelText('Filter by user'), 'Olga ');
    await waitFor(() => expect(f.calls.at(-1)!.url).toContain('username=olga'));
    expect(f.calls.at(-1)!.url).toContain('offset=0');
  });

  it('says when nothing matches', async () => {
    vi.stubGlobal('fetch', fakeFetch([['GET /api/v1/audit', 200, page([])]]).fn);
    renderWithProviders(<AuditPage />);
    expect(await screen.findByText('Nothing matches these filters.')).toBeInTheDocument();
  });
});
