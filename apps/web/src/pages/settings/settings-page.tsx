import { Skeleton } from '@mantine/core';
import { useImages, useSettings } from '../../api/queries';
import { QueryState } from '../../components/query-state';
import { SettingsEditor } from './settings-editor';

export function SettingsPage() {
  const q = useSettings();
  const images = useImages();
  return (
    <QueryState query={q} loading={<Skeleton h={400} />}>
      {(saved) => <SettingsEditor saved={saved} images={images.data?.items ?? []} />}
    </QueryState>
  );
}
