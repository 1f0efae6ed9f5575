import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { MachineAgent } from '@ggnet/contracts';
import { aMachine } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { AgentPanel } from './agent-panel';

const role = vi.hoisted(() => ({ canWrite: true }));
vi.mock('../../api/use-auth', () => ({ useCan: () => role.canWrite, useAuth: () => null }));

afterEach(() => {
  vi.unstubAllGlobals();
  role.canWrite = true;
});

const online: MachineAgent = {
  state: 'online',
  sessionId: 's1',
  claimedAt: new Date().toISOString(),
  lastSeenAt: new Date().toISOString(),
  facts: {
    hostname: 'pc-07.lan',
    osVersion: 'Debian GNU/Linux 13 (trixie); Linux 6.12.48',
    users: ['alice'],
    uptimeSec: 3720,
    cpuModel: 'AMD Ryzen 5',
    cpuCount: 12,
    load1: 0.5,
    memTotalBytes: 16 * 1024 ** 3,
    memAvailableBytes: 8 * 1024 ** 3,
    agentVersion: '1',
  },
};

function setup(agent: MachineAgent | undefined, post: [number, unknown] = [202, {}]) {
  const f = fakeFetch([
    ['GET /api/v1/machines/m1/agent/commands', 200, { items: [] }],
    ['POST /api/v1/machines/m1/agent/commands', post[0], post[1]],
  ]);
  vi.stubGlobal('fetch', f.fn);
  renderWithProviders(<AgentPanel machine={aMachine({ id: 'm1', name: 'pc-07', agent })} />);
  return f.calls;
}

describe('<AgentPanel>', () => {
  it('shows an online agent with what it reported, and sends shutdown (confirmed), reboot and a message', async () => {
    const calls = setup(online);
    expect(screen.getByTestId('agent-state')).toHaveTextContent('online');
    const facts = screen.getByTestId('agent-facts');
    expect(facts).toHaveTextContent('pc-07.lan');
    expect(facts).toHaveTextContent('Debian GNU/Linux 13');
    expect(facts).toHaveTextContent('alice');
    expect(facts).toHaveTextContent('8.0 GiB free of 16.0 GiB');
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Shut down' }));
    // nothing sent before the confirmation
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0);
    await u.click(screen.getByRole('button', { name: 'Yes, shut down' }));
    await waitFor(() =>
      expect(calls.filter((c) => c.method === 'POST').map((c) => c.body)).toEqual([{ type: 'shutdown' }]),
    );
    await u.click(await screen.findByRole('button', { name: 'Reboot' }));
    await u.click(screen.getByRole('button', { name: 'Yes, reboot' }));
    await u.click(await screen.findByRole('button', { name: 'Message' }));
    await u.type(screen.getByLabelText('Message shown on the PC'), 'Closing in 10 minutes');
    await u.click(screen.getByRole('button', { name: 'Send message' }));
    await waitFor(() =>
      expect(calls.filter((c) => c.method === 'POST').map((c) => c.body)).toEqual([
        { type: 'shutdown' },
        { type: 'reboot' },
        { type: 'message', text: 'Closing in 10 minutes' },
      ]),
    );
    expect(calls.every((c) => c.method !== 'POST' || c.url === '/api/v1/machines/m1/agent/commands')).toBe(
      true,
    );
  });

  it('without an agent: says "not installed" and how to install it; the command buttons are off', () => {
    setup(undefined);
    expect(screen.getByTestId('agent-state')).toHaveTextContent('not installed');
    expect(screen.getByTestId('agent-panel')).toHaveTextContent('/boot/agent/install.sh');
    for (const name of ['Shut down', 'Reboot', 'Message']) {
      const b = screen.getByRole('button', { name });
      expect(b).toBeDisabled();
      expect(b).toHaveAttribute('title', expect.stringContaining('no agent'));
    }
  });

  it("an offline agent shows its last report; the server's agent_offline answer is shown", async () => {
    const stale = new Date(Date.now() - 10 * 60_000).toISOString();
    setup({ ...online, state: 'offline', lastSeenAt: stale });
    expect(screen.getByTestId('agent-state')).toHaveTextContent('offline');
    expect(screen.getByTestId('agent-panel')).toHaveTextContent('last seen 10 min ago');
    expect(screen.getByRole('button', { name: 'Shut down' })).toBeDisabled();
    // the agent went away between the list and the click: the server says so
    vi.unstubAllGlobals();
    const calls = setup(online, [
      409,
      {
        type: 'about:blank',
        title: 'Conflict',
        status: 409,
        code: 'agent_offline',
        detail: 'the agent of pc-07 is offline',
        hint: 'wake it',
      },
    ]);
    const panels = screen.getAllByTestId('agent-panel');
    const u = userEvent.setup();
    await u.click(within(panels[1]!).getByRole('button', { name: 'Shut down' }));
    await u.click(within(panels[1]!).getByRole('button', { name: 'Yes, shut down' }));
    expect(await within(panels[1]!).findByTestId('agent-error')).toHaveTextContent('offline');
    expect(calls.some((c) => c.method === 'POST')).toBe(true);
  });

  it('a viewer sees the state but no command buttons', () => {
    role.canWrite = false;
    setup(online);
    expect(screen.getByTestId('agent-state')).toHaveTextContent('online');
    expect(screen.queryByRole('button', { name: 'Shut down' })).toBeNull();
  });
});
