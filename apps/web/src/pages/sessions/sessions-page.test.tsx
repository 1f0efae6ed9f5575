import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { serverClock } from '../../lib/server-clock';
import { aSession, anImage, page } from '../../test/fixtures';
import { fakeFetch, renderInRouter } from '../../test/render';
import { SessionsPage } from './sessions-page';
import { validateSessionsSearch } from './sessions-search';

const role = vi.hoisted(() => ({ canWrite: true }));
vi.mock('../../api/use-auth', () => ({ useCan: () => role.canWrite, useAuth: () => null }));

afterEach(() => {
  vi.unstubAllGlobals();
  serverClock.reset();
  role.canWrite = true;
});

function setup(opts: { url?: string; sessions?: unknown; headers?: Record<string, string> } = {}) {
  const f = fakeFetch([
    ['GET /api/v1/sessions/s1/timeline', 200, { items: [] }],
    ['GET /api/v1/sessions', 200, opts.sessions ?? page([aSession()]), opts.headers],
    ['GET /api/v1/images', 200, page([anImage({ id: 'i1', name: 'win11' })])],
    ['POST /api/v1/sessions/s1/stop', 200, aSession({ state: 'ended' })],
    ['POST /api/v1/sessions/s1/apply', 201, {}],
  ]);
  vi.stubGlobal('fetch', f.fn);
  const r = renderInRouter(<SessionsPage />, {
    url: opts.url ?? '/sessions',
    validateSearch: validateSessionsSearch,
  });
  return { ...r, calls: f.calls };
}

const row = (name: string) =>
  within(screen.getByTestId('sessions-table'))
    .getAllByRole('row')
    .find((r) => r.dataset.session === name)!;
const cells = (name: string) =>
  within(row(name))
    .getAllByRole('cell')
    .map((c) => c.textContent);

describe('<SessionsPage>', () => {
  it('a session started a moment ago on a server whose clock is ahead of this PC reads "just now"', async () => {
    // the server's clock is 2 minutes ahead of the PC's: by the PC's clock the first session starts
    // in 1 min 59.7 s, and the second one's OS comes up in 55 s
    const ahead = 120_000;
    const serverNow = Date.now() + ahead;
    const startedAt = new Date(serverNow - 300).toISOString();
    const running = aSession({ machineName: 'pc-fresh', startedAt, activeAt: null, state: 'starting' });
    const up = aSession({
      id: 's2',
      machineName: 'pc-up',
      startedAt: new Date(serverNow - 80_000).toISOString(),
      activeAt: new Date(serverNow - 65_000).toISOString(),
    });
    setup({
      sessions: page([running, up]),
      headers: { date: new Date(serverNow).toUTCString() },
    });
    await screen.findByTestId('sessions-table');
    const fresh = cells('pc-fresh');
    expect(fresh[6]).toBe('just now');
    expect(fresh[7]).toBe('booting…');
    expect(screen.queryByText('in the future')).toBeNull();
    // uptimes are measured on the server's clock too: without it, this would read 0 s
    await waitFor(() => expect(cells('pc-up')[8]).toMatch(/^1 min 0[5-7] s$/));
    expect(cells('pc-up')[7]).toBe('15.0 s');
  });

  it('without a Date header a session stamped ahead of the PC is still "just now"', async () => {
    const startedAt = new Date(Date.now() + 30_000).toISOString();
    setup({ sessions: page([aSession({ machineName: 'pc-skew', startedAt })]) });
    await screen.findByTestId('sessions-table');
    expect(cells('pc-skew')[6]).toBe('just now');
  });

  it('live sessions by default, the recent ones with ?all=true', async () => {
    const { calls, router } = setup();
    await screen.findByTestId('sessions-table');
    expect(calls.find((c) => c.url.startsWith('/api/v1/sessions?'))!.url).toContain('live=true');
    await userEvent.setup().click(screen.getByText('Recent'));
    await waitFor(() => expect(router.state.location.search).toEqual({ all: true }));
    await waitFor(() =>
      expect(calls.some((c) => c.url.startsWith('/api/v1/sessions?') && !c.url.includes('live='))).toBe(true),
    );
  });

  it("shows each session's iSCSI traffic, an ended one's too; none sampled is a dash", async () => {
    const traffic = {
      readBytes: 5 * 1024 ** 3,
      writtenBytes: 300 * 1024 ** 2,
      readBytesPerSec: 0,
      writeBytesPerSec: 0,
      sampledAt: '2026-12-04T10:00:00.000Z',
    };
    setup({
      sessions: page([
        aSession({
          id: 's2',
          machineName: 'pc-done',
          state: 'ended',
          endedAt: '2026-12-04T10:00:01.000Z',
          traffic,
        }),
        aSession({ machineName: 'pc-new' }),
      ]),
    });
    await screen.findByTestId('sessions-table');
    expect(within(row('pc-done')).getByTestId('session-traffic').textContent).toBe('↓ 5.0 GiB ↑ 300 MiB');
    expect(within(row('pc-new')).getByTestId('session-traffic').textContent).toBe('—');
  });

  it('shows the boot timeline of a session, and stops it after asking', async () => {
    const { calls } = setup();
    await screen.findByTestId('sessions-table');
    const u = userEvent.setup();
    await u.click(within(row('pc-01')).getByRole('button', { name: 'Show boot timeline' }));
    await waitFor(() => expect(calls.some((c) => c.url === '/api/v1/sessions/s1/timeline')).toBe(true));
    await u.click(within(row('pc-01')).getByRole('button', { name: 'Stop' }));
    await u.click(await screen.findByRole('button', { name: 'Stop session' }));
    await waitFor(() =>
      expect(calls.some((c) => c.method === 'POST' && c.url === '/api/v1/sessions/s1/stop')).toBe(true),
    );
  });

  it('applies a maintenance session as a new version, with a comment', async () => {
    const { calls } = setup({ sessions: page([aSession({ mode: 'maintenance' })]) });
    await screen.findByTestId('sessions-table');
    const u = userEvent.setup();
    await u.click(within(row('pc-01')).getByRole('button', { name: 'Apply' }));
    await u.click(await screen.findByRole('button', { name: 'Apply as new version' }));
    expect(await screen.findByText('a comment says what changed')).toBeInTheDocument();
    await u.type(screen.getByLabelText(/What changed/), ' November updates ');
    await u.click(screen.getByLabelText('Publish the new version at once'));
    await u.click(screen.getByRole('button', { name: 'Apply as new version' }));
    await waitFor(() =>
      expect(calls.find((c) => c.url === '/api/v1/sessions/s1/apply')?.body).toEqual({
        comment: 'November updates',
        publish: true,
        force: false,
      }),
    );
  });

  it('a viewer sees the sessions but cannot stop or apply', async () => {
    role.canWrite = false;
    setup({ sessions: page([aSession({ mode: 'maintenance' })]) });
    await screen.findByTestId('sessions-table');
    expect(within(row('pc-01')).queryByRole('button', { name: 'Stop' })).toBeNull();
    expect(within(row('pc-01')).queryByRole('button', { name: 'Apply' })).toBeNull();
  });

  it('an empty list says that no machine is booted', async () => {
    setup({ sessions: page([]) });
    expect(await screen.findByText('No machine is booted right now')).toBeInTheDocument();
  });
});
