import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { defaultSettings, SECRET_MASK, type SettingsResponse } from '@ggnet/contracts';
import { page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { SettingsPage } from './settings-page';

afterEach(() => vi.unstubAllGlobals());

function setup(webhook: boolean) {
  const settings = defaultSettings();
  if (webhook) {
    settings.alerts.webhookUrl = 'https://hooks.example/ggnet';
    settings.alerts.webhookSecret = SECRET_MASK;
  }
  const saved: SettingsResponse = { settings, locked: [] };
  const f = fakeFetch([
    ['GET /api/v1/settings', 200, saved],
    ['PUT /api/v1/settings', 200, saved],
    ['GET /api/v1/images', 200, page([])],
    ['POST /api/v1/alerts/webhook/test', 202, {}],
  ]);
  vi.stubGlobal('fetch', f.fn);
  renderWithProviders(<SettingsPage />);
  return f.calls;
}

describe('<SettingsPage> alerts tab', () => {
  it('sets the webhook URL, its secret and a writeback limit in GiB; only what changed is sent', async () => {
    const calls = setup(false);
    const u = userEvent.setup();
    await u.click(await screen.findByRole('tab', { name: 'Alerts' }));
    expect(screen.getByTestId('webhook-test')).toBeDisabled();
    // pasted: typing 50 characters one by one is slow on a busy machine
    await u.click(screen.getByLabelText('Webhook URL'));
    await u.paste('https://hooks.example/ggnet');
    await u.click(screen.getByTestId('webhook-secret'));
    await u.paste('a-long-shared-secret-1');
    await u.type(screen.getByLabelText('Writeback soft limit'), '20');
    await u.click(screen.getByTestId('save-settings'));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({
        alerts: {
          webhookUrl: 'https://hooks.example/ggnet',
          webhookSecret: 'a-long-shared-secret-1',
          writebackLimitBytes: 20 * 1024 ** 3,
        },
      }),
    );
  });

  it('a set secret shows as set, is never filled in, and is not sent back when other keys change; test call', async () => {
    const calls = setup(true);
    const u = userEvent.setup();
    await u.click(await screen.findByRole('tab', { name: 'Alerts' }));
    const secret = screen.getByTestId('webhook-secret');
    expect(secret).toHaveValue('');
    expect(screen.getByText(/Set \(write-only\)/)).toBeInTheDocument();
    await u.click(screen.getByRole('switch', { name: /Discard them every hour/ }));
    await u.click(screen.getByTestId('save-settings'));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ alerts: { cleanupEnabled: true } }),
    );
    await u.click(screen.getByTestId('webhook-test'));
    await waitFor(() =>
      expect(calls.some((c) => c.method === 'POST' && c.url === '/api/v1/alerts/webhook/test')).toBe(true),
    );
  });
});
