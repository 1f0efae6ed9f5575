import { useMemo, useState } from 'react';
import { Button, Card } from '@mantine/core';
import { IconPlus } from '@tabler/icons-react';
import type { Target } from '@ggnet/contracts';
import { useImages, useMachines, useTargets } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { IscsiDaemons } from '../../components/iscsi-daemons';
import { QueryTable } from '../../components/query-state';
import { PageHeader } from '../../components/ui';
import { NewTargetModal } from './new-target-modal';
import { RemoveTargetModal } from './remove-target-modal';
import { TargetsTable } from './targets-table';

export function TargetsPage() {
  const isAdmin = useCan('admin');
  const [creating, setCreating] = useState(false);
  const [removing, setRemoving] = useState<Target | null>(null);
  const list = useTargets({ limit: 500 });
  const images = useImages();
  const machines = useMachines({ limit: 500 });
  const imageName = useMemo(
    () => new Map((images.data?.items ?? []).map((i) => [i.id, i.name])),
    [images.data],
  );
  const machineName = useMemo(
    () => new Map((machines.data?.items ?? []).map((m) => [m.id, m.name])),
    [machines.data],
  );
  return (
    <>
      <PageHeader
        title="iSCSI targets"
        description="The disks GGnet serves right now: one target per booted machine."
        actions={
          isAdmin && (
            <Button leftSection={<IconPlus size={16} />} onClick={() => setCreating(true)}>
              New target
            </Button>
          )
        }
      />
      <IscsiDaemons />
      <Card withBorder padding={0} mt="xs">
        <QueryTable
          query={list}
          cols={6}
          emptyTitle="No targets"
          emptyMessage="A target is created when a machine boots and removed when its session ends."
        >
          {(data) => (
            <TargetsTable
              targets={data.items}
              machineName={machineName}
              imageName={imageName}
              isAdmin={isAdmin}
              onRemove={setRemoving}
            />
          )}
        </QueryTable>
      </Card>
      <NewTargetModal
        opened={creating}
        onClose={() => setCreating(false)}
        machines={(machines.data?.items ?? []).map((m) => ({ value: m.id, label: m.name }))}
        images={(images.data?.items ?? []).map((i) => ({ value: i.id, label: i.name }))}
      />
      <RemoveTargetModal target={removing} onClose={() => setRemoving(null)} />
    </>
  );
}
