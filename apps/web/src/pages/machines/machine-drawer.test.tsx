import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, within } from '@testing-library/react';
import { aMachine, aSession } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { refusalLabel } from '../../lib/boot-refusal';
import { MachineDrawer } from './machine-drawer';

const machine = aMachine({
  name: 'pc-07',
  mac: '52:54:00:aa:bb:07',
  initiatorIqn: 'iqn.2024-01.lan.ggnet:initiator.pc-07',
  status: 'online',
});

describe('<MachineDrawer> refused boot requests', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('shows the boot requests for its MAC that GGnet refused, with who asked and why', async () => {
    const f = fakeFetch([
      ['GET /api/v1/sessions', 200, { items: [], total: 0 }],
      [
        'GET /api/v1/boot/events',
        200,
        {
          items: [
            {
              id: 9,
              at: new Date().toISOString(),
              mac: machine.mac,
              machineId: 'm1',
              sessionId: 's1',
              kind: 'refused',
              detail: { reason: 'in_use', ip: '10.0.0.66', owner: '10.0.0.21' },
            },
          ],
          total: 1,
        },
      ],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(
      <MachineDrawer machine={machine} images={[]} groups={[]} onClose={() => undefined} />,
    );
    const alert = await screen.findByTestId('machine-refusals');
    expect(alert).toHaveTextContent('Boot requests refused');
    expect(alert).toHaveTextContent('10.0.0.66');
    expect(alert).toHaveTextContent(refusalLabel('in_use'));
    const asked = f.calls.find((c) => c.url.includes('/boot/events'))!.url;
    expect(asked).toContain('kind=refused');
    expect(asked).toContain(`mac=${encodeURIComponent(machine.mac)}`);
  });

  it("lists the machine's recent sessions with what each read and wrote", async () => {
    const ended = aSession({
      id: 's0',
      state: 'ended',
      endedAt: new Date().toISOString(),
      traffic: {
        readBytes: 3 * 1024 ** 3,
        writtenBytes: 12 * 1024 ** 2,
        readBytesPerSec: 0,
        writeBytesPerSec: 0,
        sampledAt: new Date().toISOString(),
      },
    });
    const f = fakeFetch([
      ['GET /api/v1/sessions', 200, { items: [aSession(), ended], total: 2 }],
      ['GET /api/v1/boot/events', 200, { items: [], total: 0 }],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(
      <MachineDrawer machine={machine} images={[]} groups={[]} onClose={() => undefined} />,
    );
    const table = await screen.findByTestId('machine-sessions');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((r) => within(r).getAllByRole('cell').at(-1)!.textContent)).toEqual([
      '—',
      '↓ 3.0 GiB ↑ 12.0 MiB',
    ]);
  });

  it('labels every refusal reason in words', () => {
    expect(refusalLabel('fixed_ip')).toBe('not from the fixed IP');
    expect(refusalLabel('not_leased')).toBe('address not leased to this MAC');
    expect(refusalLabel('booting')).toMatch(/booting machine/);
  });
});
