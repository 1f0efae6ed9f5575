import { useEffect, useState } from 'react';
import {
  Chip,
  Group,
  Modal,
  MultiSelect,
  SegmentedControl,
  Select,
  Stack,
  Switch,
  TagsInput,
  Text,
  TextInput,
} from '@mantine/core';
import {
  SCHEDULE_DAYS,
  SCHEDULE_TIME_RE,
  type Group as MachineGroup,
  type Machine,
  type PowerAction,
  type Schedule,
  type ScheduleCreate,
  type ScheduleDay,
} from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { ModalActions } from '../../components/modal-actions';

export const DAY_LABEL: Record<ScheduleDay, string> = {
  mon: 'Mon',
  tue: 'Tue',
  wed: 'Wed',
  thu: 'Thu',
  fri: 'Fri',
  sat: 'Sat',
  sun: 'Sun',
};

/**
 * A schedule: name, wake or shutdown, days, times (HH:MM, the site's time zone) and which machines
 * (all, a group's, or chosen ones). Checked like the server before sending; the server's field errors land on
 * their fields.
 */
export function ScheduleForm(props: {
  opened: boolean;
  schedule: Schedule | null;
  machines: Machine[];
  groups?: MachineGroup[];
  timeZone: string;
  busy: boolean;
  onClose: () => void;
  onSubmit: (body: ScheduleCreate) => Promise<unknown>;
}) {
  const s = props.schedule;
  const [name, setName] = useState('');
  const [action, setAction] = useState<PowerAction>('wake');
  const [days, setDays] = useState<ScheduleDay[]>([]);
  const [times, setTimes] = useState<string[]>([]);
  const [kind, setKind] = useState<'all' | 'group' | 'machines'>('all');
  const [groupId, setGroupId] = useState<string | null>(null);
  const [machineIds, setMachineIds] = useState<string[]>([]);
  const [enabled, setEnabled] = useState(true);
  const [errors, setErrors] = useState<Record<string, string>>({});

  useEffect(() => {
    if (!props.opened) return;
    setName(s?.name ?? '');
    setAction(s?.action ?? 'wake');
    setDays(s?.days ?? ['mon', 'tue', 'wed', 'thu', 'fri']);
    setTimes(s?.times ?? ['09:00']);
    setKind(!s || 'all' in s.target ? 'all' : 'groupId' in s.target ? 'group' : 'machines');
    setGroupId(s && 'groupId' in s.target ? s.target.groupId : null);
    setMachineIds(s && 'machineIds' in s.target ? s.target.machineIds : []);
    setEnabled(s?.enabled ?? true);
    setErrors({});
  }, [props.opened, s]);

  const submit = async () => {
    const e: Record<string, string> = {};
    if (!name.trim()) e.name = 'a schedule needs a name';
    if (!days.length) e.days = 'pick at least one day';
    if (!times.length) e.times = 'give at least one time';
    const bad = times.filter((t) => !SCHEDULE_TIME_RE.test(t));
    if (bad.length) e.times = `${bad.join(', ')}: times are HH:MM, 00:00-23:59`;
    if (kind === 'machines' && !machineIds.length) e.target = 'choose machines, or all';
    if (kind === 'group' && !groupId) e.target = 'choose a group';
    setErrors(e);
    if (Object.keys(e).length) return;
    try {
      await props.onSubmit({
        name: name.trim(),
        enabled,
        action,
        days: SCHEDULE_DAYS.filter((d) => days.includes(d)),
        times,
        target: kind === 'all' ? { all: true } : kind === 'group' ? { groupId: groupId! } : { machineIds },
      });
      props.onClose();
    } catch (err) {
      if (isApiError(err)) {
        const fe = err.fieldErrors();
        const mapped: Record<string, string> = {};
        for (const [k, v] of Object.entries(fe)) mapped[k.split('.')[0]!] = v;
        setErrors(Object.keys(mapped).length ? mapped : { name: err.detail });
      }
    }
  };

  return (
    <Modal opened={props.opened} onClose={props.onClose} title={s ? 'Edit schedule' : 'New schedule'}>
      <Stack>
        <TextInput
          label="Name"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={errors.name}
          data-autofocus
        />
        <div>
          <Text size="sm" fw={500} mb={4}>
            Action
          </Text>
          <SegmentedControl
            aria-label="Action"
            value={action}
            onChange={(v) => setAction(v as PowerAction)}
            data={[
              { value: 'wake', label: 'Wake (Wake-on-LAN)' },
              { value: 'shutdown', label: 'Shut down' },
            ]}
          />
          {action === 'shutdown' && (
            <Text size="xs" c="orange" mt={4}>
              Shutdown is sent through the GGnet client agent (Linux clients; see the README). A machine
              without an online agent when it fires is recorded as &quot;no agent&quot; in its timeline.
            </Text>
          )}
        </div>
        <div>
          <Text size="sm" fw={500} mb={4}>
            Days
          </Text>
          <Chip.Group multiple value={days} onChange={(v) => setDays(v as ScheduleDay[])}>
            <Group gap={6}>
              {SCHEDULE_DAYS.map((d) => (
                <Chip key={d} value={d} size="xs">
                  {DAY_LABEL[d]}
                </Chip>
              ))}
            </Group>
          </Chip.Group>
          {errors.days && (
            <Text size="xs" c="red" mt={4}>
              {errors.days}
            </Text>
          )}
        </div>
        <TagsInput
          label={`Times (HH:MM, ${props.timeZone})`}
          description="Type a time and press Enter"
          value={times}
          onChange={setTimes}
          error={errors.times}
        />
        <div>
          <Text size="sm" fw={500} mb={4}>
            Machines
          </Text>
          <SegmentedControl
            aria-label="Machines"
            value={kind}
            onChange={(v) => setKind(v as typeof kind)}
            data={[
              { value: 'all', label: 'All enabled, approved' },
              { value: 'group', label: 'A group' },
              { value: 'machines', label: 'Chosen machines' },
            ]}
          />
          {kind === 'group' && (
            <Select
              mt="xs"
              label="Group"
              description="its enabled, approved members when the schedule fires"
              data={(props.groups ?? []).map((g) => ({ value: g.id, label: g.name }))}
              value={groupId}
              onChange={setGroupId}
              error={errors.target}
            />
          )}
          {kind === 'machines' && (
            <MultiSelect
              mt="xs"
              label="Machines"
              searchable
              data={props.machines.map((m) => ({ value: m.id, label: m.name }))}
              value={machineIds}
              onChange={setMachineIds}
              error={errors.target}
            />
          )}
        </div>
        <Switch label="Enabled" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
        <ModalActions
          onCancel={props.onClose}
          label={s ? 'Save' : 'Create'}
          loading={props.busy}
          onConfirm={submit}
        />
      </Stack>
    </Modal>
  );
}
