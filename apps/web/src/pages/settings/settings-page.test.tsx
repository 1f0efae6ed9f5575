import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { defaultSettings, type DhcpSnippet, type DhcpStatus, type SettingsResponse } from '@ggnet/contracts';
import { page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { Notifications } from '@mantine/notifications';
import { DhcpSnippetCard } from './dhcp-snippet-card';
import { getPath, setPath, settingsDiff } from './settings-diff';
import { SettingsPage } from './settings-page';

afterEach(() => vi.unstubAllGlobals());

const snippet = (format: DhcpSnippet['format']): DhcpSnippet => ({
  format,
  bootAddr: '192.168.50.2',
  scriptUrl: 'http://192.168.50.2:8080/boot/ipxe',
  biosFile: 'undionly.kpxe',
  efiFile: 'snponly.efi',
  text: `# ${format}: next-server 192.168.50.2; snponly.efi; http://192.168.50.2:8080/boot/ipxe`,
});

const status: DhcpStatus = {
  mode: 'off',
  daemon: 'failed',
  pid: null,
  restarts: 2,
  tftp: false,
  iface: null,
  bootAddr: null,
  scriptUrl: null,
  problem: 'dnsmasq: address in use',
  lastEventAt: null,
};

describe('settings diff', () => {
  it('reads and writes dotted paths, and sends only what changed, by group', () => {
    const saved = defaultSettings();
    expect(getPath(saved, 'dhcp.mode')).toBe('off');
    const draft = setPath(setPath(saved, 'dhcp.mode', 'proxy'), 'iscsi.iqnDomain', 'lab.example');
    expect(saved.dhcp.mode).toBe('off');
    expect(settingsDiff(saved, draft)).toEqual({
      dhcp: { mode: 'proxy' },
      iscsi: { iqnDomain: 'lab.example' },
    });
    expect(settingsDiff(saved, setPath(saved, 'dhcp.dns', []))).toEqual({});
    expect(settingsDiff(saved, setPath(saved, 'dhcp.dns', ['1.1.1.1']))).toEqual({
      dhcp: { dns: ['1.1.1.1'] },
    });
  });
});

describe('<SettingsPage>', () => {
  function setup(put: [number, unknown]) {
    const saved: SettingsResponse = { settings: defaultSettings(), locked: ['dhcp.mode', 'iscsi.portal'] };
    const f = fakeFetch([
      ['GET /api/v1/settings', 200, saved],
      ['PUT /api/v1/settings', put[0], put[1]],
      ['GET /api/v1/images', 200, page([])],
      ['GET /api/v1/dhcp/status', 200, status],
      ['GET /api/v1/dhcp/snippet', 200, snippet('isc')],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(
      <>
        <Notifications />
        <SettingsPage />
      </>,
    );
    return f.calls;
  }

  it('shows locked keys, and saves only the changed fields', async () => {
    const next = defaultSettings();
    next.network.bootAddr = '192.168.50.2';
    const calls = setup([200, { settings: next, locked: ['dhcp.mode', 'iscsi.portal'] }]);
    expect(await screen.findByText('dhcp.mode is locked by the environment.')).toBeInTheDocument();
    expect(screen.getByText(/Locked: dhcp.mode, iscsi.portal/)).toBeInTheDocument();
    expect(await screen.findByTestId('dhcp-status')).toHaveTextContent('dnsmasq failed');
    expect(screen.getByText('dnsmasq: address in use')).toBeInTheDocument();
    expect(screen.getByTestId('save-settings')).toBeDisabled();
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Boot address'), '192.168.50.2');
    expect(screen.getByText('Save first: the snippet shows the saved settings.')).toBeInTheDocument();
    await u.click(screen.getByTestId('save-settings'));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ network: { bootAddr: '192.168.50.2' } }),
    );
    // saving asks the server for the snippet again (the boot address is in it)
    await waitFor(() =>
      expect(calls.filter((c) => c.url.startsWith('/api/v1/dhcp/snippet')).length).toBeGreaterThan(1),
    );
    await waitFor(() => expect(calls.filter((c) => c.url === '/api/v1/settings').length).toBeGreaterThan(1));
    expect(await screen.findByText('Settings saved')).toBeInTheDocument();
  });

  it("maps the server's field errors onto the fields and their tab; Discard goes back", async () => {
    setup([
      400,
      {
        code: 'validation',
        detail: 'invalid',
        errors: [{ path: 'body.iscsi.iqnDomain', message: 'must be a DNS domain' }],
      },
    ]);
    const u = userEvent.setup();
    await u.click(await screen.findByRole('tab', { name: 'iSCSI' }));
    expect(screen.getByLabelText('Portal')).toBeDisabled();
    expect(screen.getByTestId('locked-iscsi.portal')).toBeInTheDocument();
    const domain = screen.getByLabelText('IQN domain');
    await u.clear(domain);
    await u.type(domain, 'not a domain');
    await u.click(screen.getByTestId('save-settings'));
    expect(await screen.findByTestId('settings-error')).toHaveTextContent('Some fields need fixing');
    expect(screen.getByText('must be a DNS domain')).toBeInTheDocument();
    await u.click(screen.getByRole('button', { name: 'Discard' }));
    expect(screen.getByLabelText('IQN domain')).toHaveValue('ggnet.lan');
    expect(screen.queryByTestId('settings-error')).toBeNull();
  });
});

describe('<DhcpSnippetCard> (the server writes the snippet)', () => {
  it("shows the server's snippet for the chosen format, with Copy", async () => {
    const f = fakeFetch([
      ['GET /api/v1/dhcp/snippet?format=kea', 200, snippet('kea')],
      ['GET /api/v1/dhcp/snippet', 200, snippet('isc')],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<DhcpSnippetCard dirty={false} />);
    const card = screen.getByTestId('dhcp-snippet');
    expect(await within(card).findByText(/# isc: .*snponly\.efi/)).toBeInTheDocument();
    // the server's script URL is the bare one: iPXE asks again with its MAC and architecture
    expect(card).not.toHaveTextContent('?mac=');
    expect(within(card).getByRole('button', { name: 'Copy' })).toBeInTheDocument();
    await userEvent.setup().click(within(card).getByText('Kea'));
    expect(await within(card).findByText(/# kea:/)).toBeInTheDocument();
    expect(f.calls.map((c) => c.url)).toContain('/api/v1/dhcp/snippet?format=kea');
  });

  it('says why the server cannot write one, and what to set', async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch([
        [
          'GET /api/v1/dhcp/snippet',
          503,
          {
            code: 'no_boot_address',
            detail: 'GGnet does not know the address clients reach it at',
            hint: 'set network.bootAddr (GGNET_BOOT_ADDR) or dhcp.iface (GGNET_BOOT_IFACE)',
          },
        ],
      ]).fn,
    );
    renderWithProviders(<DhcpSnippetCard dirty={false} />);
    expect(
      await screen.findByText('GGnet does not know the address clients reach it at'),
    ).toBeInTheDocument();
    expect(screen.getByText(/set network.bootAddr/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Copy' })).toBeNull();
  });

  it('a server without the endpoint: not available (no snippet made up in the browser)', async () => {
    vi.stubGlobal('fetch', fakeFetch([]).fn);
    renderWithProviders(<DhcpSnippetCard dirty={false} />);
    expect(await screen.findByText('Not available.')).toBeInTheDocument();
  });
});
