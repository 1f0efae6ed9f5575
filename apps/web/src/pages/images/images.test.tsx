import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Image, ImageVersion, Job } from '@ggnet/contracts';
import { fakeFetch, renderWithProviders } from '../../test/render';
import { jobForImage } from './job-for-image';
import { VersionsTable } from './versions-table';
import { imageIdFromUploadUrl, imageNameFromFile, nextSpeed, osTypeFromFile } from './upload-store';

const image = { id: 'i1', name: 'win11' } as Image;
const version = (n: number, extra: Partial<ImageVersion> = {}): ImageVersion => ({
  id: `v${n}`,
  imageId: 'i1',
  number: n,
  state: 'ready',
  comment: `comment ${n}`,
  author: 'olga',
  sizeBytes: 64 * 1024 ** 3,
  allocatedBytes: 12 * 1024 ** 3,
  sha256: null,
  protected: false,
  published: false,
  inUse: false,
  parentVersionId: null,
  createdAt: new Date().toISOString(),
  readyAt: null,
  ...extra,
});

afterEach(() => vi.unstubAllGlobals());

describe('images', () => {
  it('names an image after its file and smooths the upload speed', () => {
    expect(imageNameFromFile('Win11 LAN (v2).vhdx')).toBe('Win11 LAN (v2)');
    expect(imageNameFromFile('ubuntu/24.04:server.qcow2')).toBe('ubuntu-24.04-server');
    expect(imageNameFromFile('__.vmdk')).toBe('image');
    expect(imageIdFromUploadUrl('/api/v1/uploads/01JABCDEF')).toBe('01JABCDEF');
    expect(imageIdFromUploadUrl('http://h/api/v1/uploads/x1?foo=1')).toBe('x1');
    expect(imageIdFromUploadUrl(null)).toBeNull();
    expect(osTypeFromFile('ubuntu-24.04.qcow2')).toBe('linux');
    expect(osTypeFromFile('Win11-LAN.vhdx')).toBe('windows');
    expect(nextSpeed(0, 1_000_000, 1000)).toBe(1_000_000);
    expect(nextSpeed(1_000_000, 2_000_000, 1000)).toBe(1_200_000);
  });

  it('finds the conversion job of an image by its payload', () => {
    const jobs = [
      { id: 'j1', payload: { imageId: 'other' } },
      { id: 'j2', payload: { imageId: 'i1', versionId: 'v9' } },
    ] as unknown as Job[];
    expect(jobForImage(jobs, image)?.id).toBe('j2');
  });

  it('versions: publish a newer one, roll back to an older one, no delete for the published one', async () => {
    const f = fakeFetch([
      [
        'GET /api/v1/images/i1/versions',
        200,
        {
          items: [
            version(3),
            version(2, { published: true, inUse: true, sha256: 'ab'.repeat(32) }),
            version(1, { protected: true }),
          ],
          total: 3,
        },
      ],
      ['POST /api/v1/images/i1/versions/v1/publish', 200, version(1, { published: true })],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderWithProviders(<VersionsTable image={image} canWrite />);
    const table = await screen.findByTestId('versions-table');
    const row = (n: number) => table.querySelector<HTMLElement>(`tr[data-version="${n}"]`)!;
    expect(within(row(3)).getByRole('button', { name: 'Publish' })).toBeInTheDocument();
    expect(within(row(2)).queryByRole('button', { name: /Publish|Roll back/ })).toBeNull();
    expect(within(row(2)).getByText('published')).toBeInTheDocument();
    expect(row(3)).toHaveTextContent('12.0 GiB on disk');
    // a version made by an apply is bootable before its checksum job has run
    expect(row(3)).toHaveTextContent('sha256 being computed');
    expect(row(2)).toHaveTextContent(`sha256 ${'ab'.repeat(6)}…`);

    const u = userEvent.setup();
    await u.click(within(row(1)).getByRole('button', { name: 'Roll back' }));
    await waitFor(() =>
      expect(f.calls.some((c) => c.method === 'POST' && c.url.endsWith('/versions/v1/publish'))).toBe(true),
    );

    await u.click(within(row(2)).getByRole('button', { name: 'Actions for v2' }));
    expect(await screen.findByRole('menuitem', { name: /Delete \(published: no\)/ })).toBeDisabled();
  });

  it('a viewer sees the versions but no action', async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch([['GET /api/v1/images/i1/versions', 200, { items: [version(1)], total: 1 }]]).fn,
    );
    renderWithProviders(<VersionsTable image={image} canWrite={false} />);
    const table = await screen.findByTestId('versions-table');
    expect(within(table).queryAllByRole('button')).toHaveLength(0);
  });
});
