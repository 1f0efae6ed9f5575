import { useMemo, useState } from 'react';
import { Button, Card, Group, Text } from '@mantine/core';
import { IconCalendarPlus, IconPower } from '@tabler/icons-react';
import type { Schedule, ScheduleCreate, ScheduleUpdate } from '@ggnet/contracts';
import { useSchedules, useWake } from '../../api/power';
import { useApiMutation, useGroups, useMachines } from '../../api/queries';
import { useCan } from '../../api/use-auth';
import { ConfirmDialog } from '../../components/confirm';
import { QueryTable } from '../../components/query-state';
import { PageHeader } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import { ScheduleForm } from './schedule-form';
import { SchedulesTable } from './schedules-table';

/** Power: wake every machine now, and the schedules (opening and closing hours, site time zone). */
export function PowerPage() {
  const canWrite = useCan('operator');
  const list = useSchedules();
  const machines = useMachines({ limit: 500, sort: 'name' });
  const groups = useGroups();
  const groupName = useMemo(
    () => new Map((groups.data?.items ?? []).map((g) => [g.id, g.name])),
    [groups.data],
  );
  const wake = useWake();
  const [editing, setEditing] = useState<Schedule | null>(null);
  const [formOpen, setFormOpen] = useState(false);
  const [deleting, setDeleting] = useState<Schedule | null>(null);
  const [wakeAll, setWakeAll] = useState(false);
  const machineName = useMemo(
    () => new Map((machines.data?.items ?? []).map((m) => [m.id, m.name])),
    [machines.data],
  );
  const save = useApiMutation<{ id: string | null; body: ScheduleCreate | ScheduleUpdate }, Schedule>(
    ({ id, body }) =>
      id
        ? { path: `/power/schedules/${id}`, method: 'PATCH', body }
        : { path: '/power/schedules', method: 'POST', body },
    [keys.schedules],
    { silent: true },
  );
  const del = useApiMutation<string>(
    (id) => ({ path: `/power/schedules/${id}`, method: 'DELETE' }),
    [keys.schedules],
  );
  const timeZone = list.data?.timeZone ?? '…';

  return (
    <>
      <PageHeader
        title="Power"
        description={
          <>
            Wake-on-LAN and opening hours. Schedules run in the site&apos;s time zone: <b>{timeZone}</b>{' '}
            (Settings, power.timeZone).
          </>
        }
        actions={
          canWrite && (
            <>
              <Button
                variant="default"
                leftSection={<IconPower size={16} />}
                onClick={() => setWakeAll(true)}
              >
                Wake all
              </Button>
              <Button
                leftSection={<IconCalendarPlus size={16} />}
                onClick={() => {
                  setEditing(null);
                  setFormOpen(true);
                }}
              >
                New schedule
              </Button>
            </>
          )
        }
      />
      <Card withBorder padding={0}>
        <QueryTable
          query={list}
          cols={6}
          emptyTitle="No schedules yet"
          emptyMessage="Wake the room at opening time and shut it down at closing time, on the days you choose."
        >
          {(data) => (
            <SchedulesTable
              items={data.items}
              canWrite={canWrite}
              machineName={machineName}
              groupName={groupName}
              onToggle={(s) => save.mutate({ id: s.id, body: { enabled: !s.enabled } })}
              onEdit={(s) => {
                setEditing(s);
                setFormOpen(true);
              }}
              onDelete={setDeleting}
            />
          )}
        </QueryTable>
      </Card>
      <Group mt="xs">
        <Text size="xs" c="dimmed">
          A slot missed while GGnet was down runs late if GGnet is back within power.lateGraceMin minutes;
          older ones are skipped and written to the audit log.
        </Text>
      </Group>
      <ScheduleForm
        opened={formOpen}
        schedule={editing}
        machines={machines.data?.items ?? []}
        groups={groups.data?.items ?? []}
        timeZone={timeZone}
        busy={save.isPending}
        onClose={() => setFormOpen(false)}
        onSubmit={async (body) => {
          const s = await save.mutateAsync({ id: editing?.id ?? null, body });
          notifyOk(editing ? `${s.name} saved` : `${s.name} created`);
        }}
      />
      <ConfirmDialog
        opened={!!deleting}
        title="Delete schedule"
        message={`Delete ${deleting?.name}?`}
        confirmLabel="Delete"
        onClose={() => setDeleting(null)}
        onConfirm={() => del.mutateAsync(deleting!.id)}
      />
      <ConfirmDialog
        opened={wakeAll}
        title="Wake all machines"
        message="Send a magic packet to every enabled, approved machine (paced)?"
        confirmLabel="Wake all"
        color="green"
        onClose={() => setWakeAll(false)}
        onConfirm={() => wake.wake({ all: true })}
      />
    </>
  );
}
