import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ImageVersion } from '@ggnet/contracts';
import { aGroup, anImage, aRelease, page } from '../../test/fixtures';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { groupBody, groupToForm, validateGroup } from './group-form';
import { GroupsPage } from './groups-page';

vi.mock('../../api/use-auth', () => ({ useCan: () => true, useAuth: () => null }));

afterEach(() => vi.unstubAllGlobals());

const version = (id: string, number: number, published = false): ImageVersion => ({
  id,
  imageId: 'i1',
  number,
  state: 'ready',
  comment: '',
  author: null,
  sizeBytes: 1,
  allocatedBytes: 1,
  sha256: null,
  protected: false,
  published,
  inUse: false,
  parentVersionId: null,
  createdAt: '2026-11-25T10:00:00.000Z',
  readyAt: '2026-11-25T10:00:00.000Z',
});

const vip = aGroup({
  id: 'g1',
  name: 'VIP room',
  machineCount: 3,
  bootImageId: 'i1',
  bootMode: 'maintenance',
  macPrefixes: ['52:54:00'],
  releases: [{ imageId: 'i1', versionId: 'v2', releasedAt: '2026-11-25T10:00:00.000Z', releasedBy: 'admin' }],
});
const hall = aGroup({ id: 'g2', name: 'Main hall', machineCount: 40 });
const release = aRelease({
  publishedVersionId: 'v1',
  groups: [
    {
      groupId: 'g1',
      name: 'VIP room',
      versionId: 'v2',
      source: 'ring',
      releasedAt: '2026-11-25T10:00:00.000Z',
      machines: 3,
      running: [{ versionId: 'v2', count: 2 }],
    },
    {
      groupId: 'g2',
      name: 'Main hall',
      versionId: 'v1',
      source: 'published',
      releasedAt: null,
      machines: 40,
      running: [{ versionId: 'v1', count: 37 }],
    },
  ],
  others: [{ versionId: 'v1', count: 1 }],
});

describe('<GroupsPage>', () => {
  it('lists the groups, shows which version each boots and runs, and promotes / rolls back a ring', async () => {
    const f = fakeFetch([
      ['GET /api/v1/groups', 200, page([vip, hall])],
      ['GET /api/v1/images/i1/release', 200, release],
      ['GET /api/v1/images/i1/versions', 200, page([version('v2', 2), version('v1', 1, true)])],
      ['GET /api/v1/images', 200, page([anImage({ id: 'i1', name: 'win11' })])],
      ['POST /api/v1/images/i1/release/promote', 200, aRelease()],
      ['POST /api/v1/images/i1/release/rollback', 200, aRelease()],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<GroupsPage />);
    const table = await screen.findByTestId('groups-table');
    const row = await waitFor(() => {
      const r = table.querySelector<HTMLElement>('tr[data-group="VIP room"]');
      expect(r).not.toBeNull();
      return r!;
    });
    expect(row).toHaveTextContent('3');
    expect(row).toHaveTextContent('maintenance');
    expect(row).toHaveTextContent('52:54:00');
    await waitFor(() => expect(row).toHaveTextContent('win11'));
    expect(table.querySelector('tr[data-group="Main hall"]')).toHaveTextContent('default');

    const panel = await screen.findByTestId('release-groups');
    const ring = await waitFor(() => {
      const r = panel.querySelector<HTMLElement>('tr[data-group="VIP room"]');
      expect(r).toHaveTextContent('v2');
      return r!;
    });
    expect(ring).toHaveAttribute('data-source', 'ring');
    expect(ring).toHaveTextContent('2 on v2');
    const other = panel.querySelector<HTMLElement>('tr[data-group="Main hall"]')!;
    expect(other).toHaveAttribute('data-source', 'published');
    expect(other).toHaveTextContent('37 on v1');
    expect(screen.getByTestId('releases-panel')).toHaveTextContent('Published to everyone: v1');

    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Promote to everyone' }));
    await waitFor(() =>
      expect(f.calls.find((c) => c.url.endsWith('/release/promote'))).toMatchObject({
        method: 'POST',
        body: { versionId: 'v2' },
      }),
    );
    await u.click(screen.getByRole('button', { name: 'Roll back' }));
    await waitFor(() =>
      expect(f.calls.find((c) => c.url.endsWith('/release/rollback'))).toMatchObject({
        method: 'POST',
        body: { versionId: 'v2' },
      }),
    );
  });

  it("wakes a group's machines from its row", async () => {
    const f = fakeFetch([
      ['GET /api/v1/groups', 200, page([vip, hall])],
      ['GET /api/v1/images', 200, page([])],
      [
        'POST /api/v1/groups/g2/wake',
        202,
        { queued: 40, skipped: [], broadcast: '10.0.0.255', port: 9, sourceAddress: null, etaSec: 0.4 },
      ],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<GroupsPage />);
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'Wake Main hall' }));
    await waitFor(() => expect(f.calls.some((c) => c.url === '/api/v1/groups/g2/wake')).toBe(true));
  });

  it('creates a group: checks the rules first, then sends unset settings as null', async () => {
    const f = fakeFetch([
      ['GET /api/v1/groups', 200, page([])],
      ['GET /api/v1/images', 200, page([])],
      ['POST /api/v1/groups', 201, aGroup({ name: 'Lab' })],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<GroupsPage />);
    expect(await screen.findByText('No groups yet')).toBeInTheDocument();
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'New group' }));
    const form = await screen.findByTestId('group-form');
    await u.type(within(form).getByLabelText(/Name/), 'Lab');
    await u.type(within(form).getByLabelText('MAC prefixes'), 'zz:00{enter}');
    await u.click(within(form).getByRole('button', { name: 'Create group' }));
    expect(await within(form).findByText(/1-5 bytes of a MAC/)).toBeInTheDocument();
    expect(f.calls.some((c) => c.method === 'POST')).toBe(false);
  });

  it('form values <-> request body: ranges, prefixes, and "default" as null', () => {
    const v = groupToForm(null);
    expect(validateGroup(v)).toEqual({ name: 'a name is required' });
    const filled = {
      ...v,
      name: ' Lab ',
      macPrefixes: ['52-54-00'],
      ipRanges: ['10.0.7.10-10.0.7.20'],
      keepWriteback: 'on' as const,
    };
    expect(validateGroup(filled)).toEqual({});
    expect(validateGroup({ ...filled, ipRanges: ['10.0.7.10'] }).ipRanges).toMatch(/10.0.5.1-10.0.5.99/);
    expect(groupBody(filled)).toEqual({
      name: 'Lab',
      description: '',
      bootImageId: null,
      extraImageIds: null,
      bootMode: null,
      bootMenu: null,
      keepWriteback: true,
      macPrefixes: ['52-54-00'],
      ipRanges: [{ start: '10.0.7.10', end: '10.0.7.20' }],
    });
    expect(groupToForm(vip)).toMatchObject({
      bootMode: 'maintenance',
      macPrefixes: ['52:54:00'],
      bootMenu: 'default',
    });
  });
});
