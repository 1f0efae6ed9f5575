import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { defaultSettings, type SettingsResponse } from '@ggnet/contracts';
import { page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { SettingsPage } from './settings-page';

afterEach(() => vi.unstubAllGlobals());

describe('<SettingsPage> Storage tab', () => {
  it('offers the qcow2 backend (one read cache per version) and sends it', async () => {
    const saved: SettingsResponse = { settings: defaultSettings(), locked: [] };
    const f = fakeFetch([
      ['GET /api/v1/settings', 200, saved],
      ['PUT /api/v1/settings', 200, saved],
      ['GET /api/v1/images', 200, page([])],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<SettingsPage />);
    const u = userEvent.setup();
    await u.click(await screen.findByRole('tab', { name: 'Storage' }));
    const backend = await screen.findByRole('textbox', { name: 'Storage backend' });
    expect(backend).toHaveValue('Detect at start-up');
    await u.click(backend);
    await u.click(
      await screen.findByRole('option', {
        name: 'qcow2 overlays, one read cache per version (rooms)',
        hidden: true,
      }),
    );
    await u.click(screen.getByTestId('save-settings'));
    await waitFor(() =>
      expect(f.calls.find((c) => c.method === 'PUT')?.body).toEqual({ storage: { backend: 'qcow2' } }),
    );
  });
});
