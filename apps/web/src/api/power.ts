import { useQuery } from '@tanstack/react-query';
import type { ScheduleList, WakeRequest, WakeResult } from '@ggnet/contracts';
import { keys } from '../live/apply-event';
import { notifyOk } from '../lib/notify';
import { api } from './client';
import { useApiMutation } from './queries';

/** Power schedules with their next slot, in the site's time zone. */
export function useSchedules() {
  return useQuery({
    queryKey: [...keys.schedules, 'list'],
    queryFn: ({ signal }) => api<ScheduleList>('/power/schedules', { signal }),
  });
}

/** What a wake did, for a notification: "3 machines woken (magic packets to 10.0.0.255:9), 1 skipped". */
export function wakeMessage(r: WakeResult): string {
  const n = `${r.queued} machine${r.queued === 1 ? '' : 's'}`;
  const skipped = r.skipped.length ? `, ${r.skipped.length} skipped (pending, disabled or unknown)` : '';
  return `Wake-on-LAN: ${n} (magic packets to ${r.broadcast}:${r.port})${skipped}`;
}

/** Wakes one machine (`id`), a group's members (`groupId`) or a selection / all (`WakeRequest`); says what was sent. */
export function useWake() {
  const m = useApiMutation<{ id: string } | { groupId: string } | WakeRequest, WakeResult>(
    (v) =>
      'id' in v
        ? { path: `/machines/${v.id}/wake`, method: 'POST' }
        : 'groupId' in v
          ? { path: `/groups/${v.groupId}/wake`, method: 'POST' }
          : { path: '/machines/wake', method: 'POST', body: v },
    [],
  );
  return {
    ...m,
    wake: async (v: { id: string } | { groupId: string } | WakeRequest) => {
      const r = await m.mutateAsync(v);
      notifyOk(wakeMessage(r));
      return r;
    },
  };
}
