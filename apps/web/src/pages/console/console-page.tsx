import { useRef, useState } from 'react';
import { Alert, Anchor, Button, Group, Select, Stack, Text } from '@mantine/core';
import { IconKeyboard, IconPlayerPlay, IconPower } from '@tabler/icons-react';
import { Link, useParams } from '@tanstack/react-router';
import { useQuery } from '@tanstack/react-query';
import type { ConsoleStart, ConsoleVm, Image } from '@ggnet/contracts';
import { api } from '../../api/client';
import { useApiMutation, useMedia, useOptional } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { ConfirmDialog } from '../../components/confirm';
import { PageHeader, StatusBadge } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { notifyError } from '../../lib/notify';
import { VncScreen, type VncScreenHandle } from './vnc-screen';

/**
 * An image's console VM (issue 15 point 3): start it on the image's maintenance disk (optionally
 * with an install medium as a CD), its screen with keyboard and mouse (noVNC), Ctrl-Alt-Del and
 * power off. Applying or discarding the work is the maintenance session's, on the Sessions page.
 */
export function ConsolePage() {
  const params: { imageId?: string } = useParams({ strict: false });
  const imageId = params.imageId ?? '';
  const canWrite = useCan('operator');
  const image = useQuery({
    queryKey: [...keys.images, imageId],
    queryFn: ({ signal }) => api<Image>(`/images/${imageId}`, { signal }),
  });
  const vm = useOptional<ConsoleVm>([...keys.console, imageId], `/images/${imageId}/console`);
  const media = useMedia();
  const [mediaId, setMediaId] = useState<string | null>(null);
  const [confirmOff, setConfirmOff] = useState(false);
  const screen = useRef<VncScreenHandle>(null);
  const start = useApiMutation<ConsoleStart, ConsoleVm>(
    (body) => ({ path: `/images/${imageId}/console`, method: 'POST', body }),
    [keys.console, keys.sessions],
  );
  const powerOff = useApiMutation<void, ConsoleVm>(
    () => ({ path: `/images/${imageId}/console`, method: 'DELETE' }),
    [keys.console, keys.sessions],
  );
  const running = vm.data?.state === 'running';

  return (
    <Stack>
      <PageHeader
        title={`Console VM: ${image.data?.name ?? '…'}`}
        description="A VM on the server running on this image's maintenance disk. When the work is done, shut the guest down and apply (or discard) its maintenance session."
        actions={
          canWrite && (
            <Group>
              {running ? (
                <>
                  <Button
                    variant="default"
                    leftSection={<IconKeyboard size={16} />}
                    onClick={() => screen.current?.ctrlAltDel()}
                  >
                    Ctrl-Alt-Del
                  </Button>
                  <Button
                    color="red"
                    leftSection={<IconPower size={16} />}
                    onClick={() => setConfirmOff(true)}
                  >
                    Power off
                  </Button>
                </>
              ) : (
                <>
                  <Select
                    placeholder="No install medium"
                    aria-label="Install medium"
                    clearable
                    data={(media.data?.items ?? []).map((m) => ({ value: m.id, label: m.name }))}
                    value={mediaId}
                    onChange={setMediaId}
                  />
                  <Button
                    leftSection={<IconPlayerPlay size={16} />}
                    loading={start.isPending}
                    onClick={() =>
                      start.mutateAsync(mediaId ? { mediaId } : {}).then(
                        () => vm.refetch(),
                        (e: unknown) => notifyError(e, 'The VM did not start'),
                      )
                    }
                  >
                    Start VM
                  </Button>
                </>
              )}
            </Group>
          )
        }
      />
      {vm.data && (
        <Group gap="xs">
          <StatusBadge status={vm.data.state} />
          <Text size="sm" c="dimmed">
            {vm.data.memoryMiB} MiB, {vm.data.cpus} CPU{vm.data.cpus === 1 ? '' : 's'}, {vm.data.accel}
          </Text>
          {vm.data.sessionId && (
            <Anchor size="sm" renderRoot={(props) => <Link to="/sessions" search={{}} {...props} />}>
              Maintenance session (apply / discard)
            </Anchor>
          )}
        </Group>
      )}
      {vm.data?.error && <Alert color="red">{vm.data.error}</Alert>}
      {!canWrite && <Alert color="gray">The console of a VM is for operators.</Alert>}
      {canWrite && running && <VncScreen ref={screen} imageId={imageId} running={running} />}
      {canWrite && !running && vm.data?.state && (
        <Alert color="gray" data-testid="vm-off">
          The VM is powered off. Its work is in the maintenance session: apply it as a new version or discard
          it on the Sessions page, or start the VM again to continue.
        </Alert>
      )}
      <ConfirmDialog
        opened={confirmOff}
        title="Power off"
        message="Cut the VM's power now? Unsaved work in the guest is lost; the disk keeps what the guest wrote."
        confirmLabel="Power off"
        onClose={() => setConfirmOff(false)}
        onConfirm={async () => {
          await powerOff.mutateAsync();
          await vm.refetch();
        }}
      />
    </Stack>
  );
}
