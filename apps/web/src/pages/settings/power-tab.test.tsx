import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { defaultSettings, type SettingsResponse } from '@ggnet/contracts';
import { page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { SettingsPage } from './settings-page';

afterEach(() => vi.unstubAllGlobals());

describe('<SettingsPage> Power tab', () => {
  it('changes the site time zone and the pace of magic packets, and shows the server refusing a zone', async () => {
    const saved: SettingsResponse = { settings: defaultSettings(), locked: [] };
    const f = fakeFetch([
      ['GET /api/v1/settings', 200, saved],
      [
        'PUT /api/v1/settings',
        400,
        {
          code: 'validation_failed',
          detail: 'invalid settings',
          errors: [{ path: 'power.timeZone', message: 'must be an IANA time zone name' }],
        },
      ],
      ['GET /api/v1/images', 200, page([])],
      ['GET /api/v1/dhcp/status', 200, { mode: 'off', running: false, error: null, leases: 0 }],
      ['GET /api/v1/dhcp/snippet', 200, { format: 'isc', text: '' }],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<SettingsPage />);
    const u = userEvent.setup();
    await u.click(await screen.findByRole('tab', { name: 'Power' }));
    const zone = await screen.findByRole('textbox', { name: 'Site time zone' });
    expect(zone).toHaveValue('UTC');
    await u.clear(zone);
    await u.type(zone, 'Europe/Berl');
    await u.click(await screen.findByRole('option', { name: 'Europe/Berlin', hidden: true }));
    const pps = screen.getByRole('textbox', { name: 'Magic packets per second' });
    await u.clear(pps);
    await u.type(pps, '50');
    await u.click(screen.getByTestId('save-settings'));
    await waitFor(() =>
      expect(f.calls.find((c) => c.method === 'PUT')?.body).toEqual({
        power: { timeZone: 'Europe/Berlin', packetsPerSecond: 50 },
      }),
    );
    expect(await screen.findByText('must be an IANA time zone name')).toBeInTheDocument();
  });
});
