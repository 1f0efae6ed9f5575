import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Table } from '@mantine/core';
import { aGroup, aMachine, anEffective, anImage, aSession, page } from '../../test/fixtures';
import { fakeFetch, renderInRouter, renderWithProviders } from '../../test/render';
import { BulkModal } from './bulk-modal';
import { MachinesPage } from './machines-page';
import { validateMachinesSearch } from './machines-search';
import { SortHeader } from './sort-header';
import { Uptime } from './uptime';

const role = vi.hoisted(() => ({ canWrite: true }));
vi.mock('../../api/use-auth', () => ({ useCan: () => role.canWrite, useAuth: () => null }));

afterEach(() => {
  vi.unstubAllGlobals();
  role.canWrite = true;
});

const pc1 = aMachine({
  id: 'm1',
  name: 'pc-01',
  groupId: 'g1',
  status: 'online',
  tags: ['vip'],
  // the image comes from its group: the table shows the effective one
  effective: anEffective({ bootImageId: { value: 'i1', source: 'group' } }),
});
const pc2 = aMachine({ id: 'm2', name: 'pc-02', mac: '52:54:00:aa:bb:02', pending: true, status: 'pending' });

function setup(opts: { url?: string; machines?: unknown; pending?: number } = {}) {
  const f = fakeFetch([
    ['GET /api/v1/machines?limit=1&status=pending', 200, page([], opts.pending ?? 0)],
    ['GET /api/v1/machines', 200, opts.machines ?? page([pc1, pc2])],
    ['GET /api/v1/images', 200, page([anImage({ id: 'i1', name: 'win11' })])],
    ['GET /api/v1/groups', 200, page([aGroup({ id: 'g1', name: 'VIP room' })])],
    ['GET /api/v1/sessions', 200, page([aSession({ machineId: 'm1' })])],
    ['PATCH /api/v1/machines/', 200, pc2],
    ['POST /api/v1/machines/bulk', 200, { affected: 2 }],
  ]);
  vi.stubGlobal('fetch', f.fn);
  const r = renderInRouter(<MachinesPage />, {
    url: opts.url ?? '/machines',
    validateSearch: validateMachinesSearch,
  });
  return { ...r, calls: f.calls };
}

describe('<MachinesPage>', () => {
  it('lists the machines of the URL filters, with image names and the pending banner', async () => {
    const { calls, router } = setup({ url: '/machines?status=online&sort=-name&page=2', pending: 3 });
    const table = await screen.findByTestId('machines-table');
    const row = table.querySelector<HTMLElement>('tr[data-machine="pc-01"]')!;
    await waitFor(() => expect(row).toHaveTextContent('win11 (group)'));
    expect(row).toHaveTextContent('VIP room');
    expect(row).toHaveTextContent('vip');
    const list = calls.find((c) => c.url.startsWith('/api/v1/machines?') && !c.url.includes('limit=1'))!;
    expect(list.url).toContain('status=online');
    expect(list.url).toContain('sort=-name');
    expect(list.url).toContain('offset=50');
    expect(await screen.findByTestId('pending-banner')).toHaveTextContent('3 machines are waiting');
    await userEvent.setup().click(screen.getByRole('button', { name: 'Show pending' }));
    // a new filter starts again at the first page
    await waitFor(() => expect(router.state.location.search).toMatchObject({ status: 'pending' }));
    expect(router.state.location.search).not.toHaveProperty('page');
  });

  it('sorts by a column: ascending, then descending', async () => {
    const { router } = setup();
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'Sort by MAC' }));
    await waitFor(() => expect(router.state.location.search).toMatchObject({ sort: 'mac' }));
    await u.click(screen.getByRole('button', { name: 'Sort by MAC' }));
    await waitFor(() => expect(router.state.location.search).toMatchObject({ sort: '-mac' }));
  });

  it('approves, disables from the row menu and runs bulk actions on the selection', async () => {
    const { calls } = setup();
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'Approve pc-02' }));
    await waitFor(() =>
      expect(calls.find((c) => c.method === 'PATCH')).toMatchObject({
        url: '/api/v1/machines/m2',
        body: { pending: false },
      }),
    );
    await u.click(screen.getByRole('button', { name: 'Actions for pc-01' }));
    // the row's menu mounts opened: jsdom cannot position it, so it stays display:none there
    await u.click(await screen.findByRole('menuitem', { name: 'Disable', hidden: true }));
    await waitFor(() =>
      expect(calls.filter((c) => c.method === 'PATCH')[1]).toMatchObject({
        url: '/api/v1/machines/m1',
        body: { enabled: false },
      }),
    );

    expect(screen.queryByTestId('bulk-bar')).toBeNull();
    await u.click(screen.getByRole('checkbox', { name: 'Select all' }));
    const bar = screen.getByTestId('bulk-bar');
    expect(bar).toHaveTextContent('2 selected');
    await u.click(within(bar).getByRole('button', { name: 'Enable' }));
    await waitFor(() =>
      expect(calls.find((c) => c.url === '/api/v1/machines/bulk')?.body).toEqual({
        ids: ['m1', 'm2'],
        action: 'enable',
      }),
    );
    // the selection is cleared after a bulk action
    await waitFor(() => expect(screen.queryByTestId('bulk-bar')).toBeNull());
  });

  it('says why the list is empty: nothing yet, or nothing matches the filters', async () => {
    setup({ machines: page([]) });
    expect(await screen.findByText('No machines yet')).toBeInTheDocument();
  });

  it('an empty filtered list asks to change the filters', async () => {
    setup({ url: '/machines?q=nothing', machines: page([]) });
    expect(await screen.findByText('No machine matches')).toBeInTheDocument();
    expect(screen.getByLabelText('Search machines')).toHaveValue('nothing');
  });

  it('a viewer gets neither checkboxes nor row actions', async () => {
    role.canWrite = false;
    setup();
    const table = await screen.findByTestId('machines-table');
    expect(within(table).queryAllByRole('checkbox')).toHaveLength(0);
    expect(screen.queryByRole('button', { name: 'Add machine' })).toBeNull();
    expect(screen.queryByRole('button', { name: /Actions for/ })).toBeNull();
  });
});

describe('machines page parts', () => {
  it('validateMachinesSearch keeps only well-formed parameters', () => {
    expect(validateMachinesSearch({ q: 'pc', page: '3', sort: '', status: 5, imageId: 'i1' })).toEqual({
      q: 'pc',
      status: undefined,
      bootMode: undefined,
      imageId: 'i1',
      sort: undefined,
      page: 3,
    });
    expect(validateMachinesSearch({ page: '0' }).page).toBeUndefined();
    expect(validateMachinesSearch({ page: '1.5' }).page).toBeUndefined();
  });

  it('SortHeader marks the active column and flips its direction', async () => {
    const onSort = vi.fn();
    renderWithProviders(
      <Table>
        <Table.Thead>
          <Table.Tr>
            <SortHeader field="name" label="Name" sort="name" onSort={onSort} />
            <SortHeader field="ip" label="IP" sort="name" onSort={onSort} />
          </Table.Tr>
        </Table.Thead>
      </Table>,
    );
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Sort by Name' }));
    await u.click(screen.getByRole('button', { name: 'Sort by IP' }));
    expect(onSort.mock.calls).toEqual([['-name'], ['ip']]);
  });

  it('Uptime counts from the OS login, or from the boot while booting', () => {
    const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
    renderWithProviders(
      <>
        <Uptime session={aSession({ startedAt: ago(400), activeAt: ago(125) })} />
        <Uptime session={aSession({ id: 's2', startedAt: ago(30), activeAt: null })} />
        <Uptime session={undefined} />
      </>,
    );
    expect(screen.getByTitle('up since the OS logged in to its disk')).toHaveTextContent(/^2 min 0[5-7] s$/);
    expect(screen.getByTitle('booting since')).toHaveTextContent(/^3[0-2] s$/);
    expect(screen.getByText('—')).toBeInTheDocument();
  });

  it('BulkModal sends the boot mode (inherit = null), the image (none = inherit) or the group', async () => {
    const onApply = vi.fn().mockResolvedValue(undefined);
    const onClose = vi.fn();
    const modal = (action: 'setBootMode' | 'assignImage' | 'moveToGroup') => (
      <BulkModal
        action={action}
        count={2}
        images={[]}
        groups={[aGroup()]}
        busy={false}
        onApply={onApply}
        onClose={onClose}
      />
    );
    const { rerender } = renderWithProviders(modal('setBootMode'));
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'Apply to 2' }));
    expect(onApply).toHaveBeenLastCalledWith({ bootMode: null });
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    rerender(modal('assignImage'));
    expect(await screen.findByText('Assign a boot image')).toBeInTheDocument();
    await u.click(screen.getByRole('button', { name: 'Apply to 2' }));
    expect(onApply).toHaveBeenLastCalledWith({ bootImageId: null });
    rerender(modal('moveToGroup'));
    expect(await screen.findByText('Move to a group')).toBeInTheDocument();
    await u.click(screen.getByRole('button', { name: 'Apply to 2' }));
    expect(onApply).toHaveBeenLastCalledWith({ groupId: null });
  });
});
