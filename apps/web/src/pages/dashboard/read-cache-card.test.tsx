import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import type { StorageCache } from '@ggnet/contracts';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { ReadCacheCard } from './read-cache-card';

afterEach(() => vi.unstubAllGlobals());

const MiB = 1024 ** 2;
const cache: StorageCache = {
  backend: 'qcow2',
  daemon: { state: 'running', pid: 42, adopted: false, restarts: 0 },
  readBytes: 8192 * MiB,
  diskReadBytes: 1024 * MiB,
  hitRate: 0.875,
  countingSince: '2026-12-03T15:00:00.000Z',
  versions: [
    {
      imageId: '11111111-1111-4111-8111-111111111111',
      imageName: 'Win 11',
      versionId: '22222222-2222-4222-8222-222222222222',
      versionNumber: 3,
      sizeBytes: 2048 * MiB,
      disks: 8,
      masterCacheBytes: 1024 * MiB,
      cacheBytes: 1030 * MiB,
    },
  ],
};

describe('ReadCacheCard', () => {
  it('shows RAM per version, the disks on it and the hit rate', async () => {
    vi.stubGlobal('fetch', fakeFetch([['GET /api/v1/storage/cache', 200, cache]]).fn);
    renderWithProviders(<ReadCacheCard />);
    const card = screen.getByTestId('read-cache-card');
    await waitFor(() => expect(card).toHaveTextContent('Win 11 v3'));
    expect(screen.getByTestId('hit-rate')).toHaveTextContent('hit rate 87.5%');
    expect(card).toHaveTextContent('1.0 GiB');
    expect(card).toHaveTextContent('qemu-storage-daemon read 8.0 GiB, 1.0 GiB of it from disk');
  });

  it('a server without the endpoint: an empty state', async () => {
    vi.stubGlobal('fetch', fakeFetch([]).fn);
    renderWithProviders(<ReadCacheCard />);
    expect(
      await screen.findByText('Cache figures are not available from this server yet.'),
    ).toBeInTheDocument();
  });
});
