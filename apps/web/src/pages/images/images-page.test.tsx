import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { PreviousUpload } from 'tus-js-client';
import { aJob, anImage, page } from '../../test/fixtures';
import { fakeFetch, renderInRouter, renderWithProviders } from '../../test/render';
import { ImageDetailsModal } from './image-details-modal';
import { ImagesPage } from './images-page';
import { InterruptedUploads } from './interrupted-uploads';
import { UploadRow } from './upload-row';
import type * as UploadStoreModule from './upload-store';
import type { UploadItem } from './upload-store';

const role = vi.hoisted(() => ({ canWrite: true }));
vi.mock('../../api/use-auth', () => ({ useCan: () => role.canWrite, useAuth: () => null }));
const store = vi.hoisted(() => ({
  interrupted: [] as PreviousUpload[],
  discarded: [] as string[],
}));
vi.mock('./upload-store', async (importOriginal) => ({
  ...(await importOriginal<typeof UploadStoreModule>()),
  interruptedUploads: () => Promise.resolve(store.interrupted),
  serverOffset: (url: string) => Promise.resolve(url.endsWith('/gone') ? null : 256),
  discardInterrupted: (p: PreviousUpload) => {
    store.discarded.push(p.urlStorageKey);
    return Promise.resolve();
  },
}));

afterEach(() => {
  vi.unstubAllGlobals();
  role.canWrite = true;
  store.interrupted = [];
  store.discarded = [];
});

const upload = (extra: Partial<UploadItem>): UploadItem => ({
  key: 'k1',
  filename: 'win11.vhdx',
  name: 'win11',
  size: 1024 ** 3,
  bytesUploaded: 256 * 1024 ** 2,
  speed: 64 * 1024 ** 2,
  state: 'uploading',
  error: null,
  resumed: false,
  imageId: 'i1',
  ...extra,
});

describe('<ImagesPage>', () => {
  it('lists the images with their conversion progress; a click opens the drawer with the versions', async () => {
    const converting = anImage({
      id: 'i2',
      name: 'ubuntu',
      state: 'converting',
      osType: 'linux',
      machineCount: 3,
    });
    const f = fakeFetch([
      ['GET /api/v1/images/i2/versions', 200, page([])],
      ['GET /api/v1/images', 200, page([anImage(), converting])],
      ['GET /api/v1/jobs?state=running', 200, page([aJob({ payload: { imageId: 'i2' } })])],
      ['GET /api/v1/jobs', 200, page([])],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderInRouter(<ImagesPage />, { url: '/images' });
    const table = await screen.findByTestId('images-table');
    const row = table.querySelector<HTMLElement>('tr[data-image="ubuntu"]')!;
    expect(row).toHaveTextContent('converting');
    expect(row).toHaveTextContent('linux');
    await waitFor(() => expect(within(row).getByTestId('job-progress')).toBeInTheDocument());
    expect(table.querySelector('tr[data-image="win11"]')).toHaveTextContent('64.0 GiB');
    expect(screen.getByTestId('upload-dropzone')).toBeInTheDocument();

    await userEvent.setup().click(within(row).getByText('ubuntu'));
    const drawer = await screen.findByTestId('image-drawer');
    expect(await within(drawer).findByText('No versions yet')).toBeInTheDocument();
    expect(within(drawer).getByText('3 machines')).toBeInTheDocument();
  });

  it('a viewer gets no upload and is told an operator uploads images', async () => {
    role.canWrite = false;
    vi.stubGlobal(
      'fetch',
      fakeFetch([
        ['GET /api/v1/images', 200, page([])],
        ['GET /api/v1/jobs', 200, page([])],
      ]).fn,
    );
    renderInRouter(<ImagesPage />, { url: '/images' });
    expect(await screen.findByText('An operator has not uploaded any image yet.')).toBeInTheDocument();
    expect(screen.queryByTestId('upload-dropzone')).toBeNull();
  });
});

describe('images page parts', () => {
  it('UploadRow: percent, speed and time left; then the conversion; then ready', () => {
    const { rerender } = renderWithProviders(<UploadRow u={upload({})} image={undefined} job={undefined} />);
    expect(screen.getByTestId('upload-percent')).toHaveTextContent('25.0 % · 256 MiB of 1.0 GiB');
    expect(screen.getByText('64.0 MiB/s · 12 s left')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Pause upload' })).toBeInTheDocument();
    rerender(
      <UploadRow
        u={upload({ state: 'done', bytesUploaded: 1024 ** 3 })}
        image={anImage({ state: 'converting' })}
        job={aJob({
          progress: {
            percent: 40,
            bytesDone: null,
            bytesTotal: null,
            bytesPerSec: null,
            etaSec: null,
            stage: 'convert',
          },
        })}
      />,
    );
    expect(screen.getByTestId('upload-percent')).toHaveTextContent('uploaded — converting on the server');
    expect(screen.getByTestId('job-progress')).toHaveTextContent('40 %');
    rerender(<UploadRow u={upload({ state: 'done' })} image={anImage({ state: 'ready' })} job={undefined} />);
    expect(screen.getByTestId('upload-percent')).toHaveTextContent('ready to boot');
    expect(screen.getByRole('button', { name: 'Dismiss' })).toBeInTheDocument();
    rerender(
      <UploadRow
        u={upload({ state: 'error', error: 'connection lost' })}
        image={undefined}
        job={undefined}
      />,
    );
    expect(screen.getByText('connection lost')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Resume upload' })).toBeInTheDocument();
  });

  it('InterruptedUploads: how much the server has, and Discard', async () => {
    const prev = (key: string, uploadUrl: string, filename: string): PreviousUpload => ({
      urlStorageKey: key,
      uploadUrl,
      size: 1024,
      metadata: { filename },
      creationTime: '',
      parallelUploadUrls: null,
    });
    store.interrupted = [
      prev('a', '/api/v1/uploads/x1', 'a.vhdx'),
      prev('b', '/api/v1/uploads/gone', 'b.vhdx'),
    ];
    renderWithProviders(<InterruptedUploads refreshKey={0} />);
    const box = await screen.findByTestId('interrupted-uploads');
    expect(box).toHaveTextContent('a.vhdx — 25.0 % on the server');
    expect(box).toHaveTextContent('b.vhdx — no longer on the server');
    await userEvent.setup().click(within(box).getAllByRole('button', { name: 'Discard' })[0]!);
    await waitFor(() => expect(box).not.toHaveTextContent('a.vhdx'));
    expect(store.discarded).toEqual(['a']);
  });

  it('ImageDetailsModal sends the new name, OS and description; shows a refused name', async () => {
    const f = fakeFetch([
      ['PATCH /api/v1/images/i1', 409, { code: 'name_taken', detail: 'the name is taken' }],
    ]);
    vi.stubGlobal('fetch', f.fn);
    const onClose = vi.fn();
    renderWithProviders(<ImageDetailsModal image={anImage()} opened onClose={onClose} />);
    const u = userEvent.setup();
    const name = await screen.findByLabelText('Name');
    expect(name).toHaveValue('win11');
    await u.clear(name);
    await u.type(name, 'win11-lan');
    await u.type(screen.getByLabelText('Description'), 'LAN image');
    await u.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('the name is taken')).toBeInTheDocument();
    expect(f.calls.find((c) => c.method === 'PATCH')?.body).toEqual({
      name: 'win11-lan',
      description: 'LAN image',
      osType: 'windows',
      uefiBootFile: null,
    });
    expect(onClose).not.toHaveBeenCalled();
  });

  it('ImageDetailsModal checks the UEFI boot file before sending it', async () => {
    const f = fakeFetch([['PATCH /api/v1/images/i1', 200, anImage()]]);
    vi.stubGlobal('fetch', f.fn);
    const onClose = vi.fn();
    renderWithProviders(<ImageDetailsModal image={anImage()} opened onClose={onClose} />);
    const u = userEvent.setup();
    const field = await screen.findByLabelText('UEFI boot file');
    await u.type(field, 'EFI/Microsoft/Boot/bootmgfw.efi');
    await u.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText(/backslashes, ending in .efi/)).toBeInTheDocument();
    expect(f.calls.some((c) => c.method === 'PATCH')).toBe(false);
    await u.clear(field);
    await u.type(field, '\\EFI\\Microsoft\\Boot\\bootmgfw.efi');
    await u.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(f.calls.find((c) => c.method === 'PATCH')?.body).toMatchObject({
      uefiBootFile: '\\EFI\\Microsoft\\Boot\\bootmgfw.efi',
    });
  });
});

describe('blank images and install media', () => {
  it('lists install media with what uses them, and creates a blank image of a size in GiB', async () => {
    const f = fakeFetch([
      [
        'GET /api/v1/media',
        200,
        page([
          {
            id: 'md1',
            name: 'debian-13-netinst',
            filename: 'debian-13.2.0-amd64-netinst.iso',
            sizeBytes: 754 * 1024 ** 2,
            sha256: 'ab'.repeat(32),
            machineCount: 2,
            createdBy: 'admin',
            createdAt: '2026-11-25T10:00:00.000Z',
          },
        ]),
      ],
      ['POST /api/v1/images', 201, anImage({ id: 'i9', name: 'win11-blank' })],
      ['GET /api/v1/images', 200, page([])],
      ['GET /api/v1/jobs', 200, page([])],
    ]);
    vi.stubGlobal('fetch', f.fn);
    renderInRouter(<ImagesPage />, { url: '/images' });
    const card = await screen.findByTestId('media-card');
    expect(await within(card).findByText('debian-13-netinst')).toBeInTheDocument();
    expect(within(card).getByText('754 MiB')).toBeInTheDocument();
    expect(within(card).getByText('2 machine(s)')).toBeInTheDocument();
    // a medium in use cannot be deleted from here
    expect(within(card).getByRole('button', { name: 'Delete debian-13-netinst' })).toBeDisabled();

    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'New blank image' }));
    const form = await screen.findByTestId('blank-image-form');
    await user.type(within(form).getByLabelText(/Name/), 'win11-blank');
    const size = within(form).getByLabelText(/Size/);
    await user.clear(size);
    await user.type(size, '80');
    await user.click(within(form).getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(f.calls.some((c) => c.method === 'POST')).toBe(true));
    expect(f.calls.find((c) => c.method === 'POST')!.body).toEqual({
      name: 'win11-blank',
      osType: 'windows',
      sizeBytes: 80 * 1024 ** 3,
    });
  });
});
