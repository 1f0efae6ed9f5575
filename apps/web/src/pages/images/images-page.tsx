import { useMemo, useState, useSyncExternalStore } from 'react';
import { Button, Card, Stack } from '@mantine/core';
import { useImages, useJobs } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { QueryTable } from '../../components/query-state';
import { PageHeader } from '../../components/ui';
import { ImageDrawer } from './image-drawer';
import { BlankImageModal } from './blank-image-modal';
import { ImagesTable } from './images-table';
import { MediaCard } from './media-card';
import { InterruptedUploads } from './interrupted-uploads';
import { jobForImage } from './job-for-image';
import { UploadDropzone } from './upload-dropzone';
import { UploadRow } from './upload-row';
import { uploads } from './upload-store';

export function ImagesPage() {
  const canWrite = useCan('operator');
  const list = useImages({ limit: 500, sort: 'name' });
  const running = useJobs({ state: 'running', limit: 100 });
  const queued = useJobs({ state: 'queued', limit: 100 });
  const active = useSyncExternalStore(uploads.subscribe, uploads.get);
  const [openId, setOpenId] = useState<string | null>(null);
  const [refreshKey, setRefreshKey] = useState(0);
  const [blankOpen, setBlankOpen] = useState(false);
  const jobs = useMemo(
    () => [...(running.data?.items ?? []), ...(queued.data?.items ?? [])],
    [running.data, queued.data],
  );
  const open = list.data?.items.find((i) => i.id === openId) ?? null;

  return (
    <>
      <PageHeader
        title="Images"
        description="Master disks that machines boot, with their versions."
        actions={
          canWrite && (
            <Button variant="default" onClick={() => setBlankOpen(true)}>
              New blank image
            </Button>
          )
        }
      />
      {canWrite && (
        <Stack mb="md" gap="sm">
          <UploadDropzone
            onFiles={(files) => {
              for (const f of files) void uploads.add(f, () => setRefreshKey((k) => k + 1));
            }}
          />
          <InterruptedUploads refreshKey={refreshKey} />
          {active.map((u) => {
            const image = list.data?.items.find((i) => i.id === u.imageId);
            return (
              <UploadRow key={u.key} u={u} image={image} job={image ? jobForImage(jobs, image) : undefined} />
            );
          })}
        </Stack>
      )}
      <Card withBorder padding={0}>
        <QueryTable
          query={list}
          cols={7}
          emptyTitle="No images yet"
          emptyMessage={
            canWrite
              ? 'Drop a VHDX, VMDK or QCOW2 above to create the first image.'
              : 'An operator has not uploaded any image yet.'
          }
        >
          {(data) => <ImagesTable images={data.items} jobs={jobs} onOpen={(img) => setOpenId(img.id)} />}
        </QueryTable>
      </Card>
      <MediaCard canWrite={canWrite} />
      <ImageDrawer image={open} onClose={() => setOpenId(null)} canWrite={canWrite} />
      <BlankImageModal opened={blankOpen} onClose={() => setBlankOpen(false)} />
    </>
  );
}
