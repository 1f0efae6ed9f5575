import type { QueryClient, QueryKey } from '@tanstack/react-query';
import type { Job, LiveEvent, Page, TrafficSample } from '@ggnet/contracts';
import { applyTrafficSample } from './traffic-cache';

/** Query-key roots; every list/detail query of a feature starts with its root. */
export const keys = {
  machines: ['machines'] as const,
  images: ['images'] as const,
  sessions: ['sessions'] as const,
  jobs: ['jobs'] as const,
  targets: ['targets'] as const,
  users: ['users'] as const,
  audit: ['audit'] as const,
  settings: ['settings'] as const,
  storage: ['storage'] as const,
  boot: ['boot'] as const,
  dhcp: ['dhcp'] as const,
  iscsi: ['iscsi'] as const,
  backups: ['backups'] as const,
  media: ['media'] as const,
  alerts: ['alerts'] as const,
  schedules: ['schedules'] as const,
  traffic: ['traffic'] as const,
  groups: ['groups'] as const,
};

/** Which caches an event of a topic makes stale. */
const STALE: Record<string, QueryKey[]> = {
  machine: [keys.machines, keys.groups],
  group: [keys.groups, keys.machines],
  media: [keys.media, keys.images],
  image: [keys.images, keys.machines],
  version: [keys.images, keys.groups],
  job: [keys.jobs, keys.images],
  session: [keys.sessions, keys.machines, keys.targets, keys.groups],
  target: [keys.targets],
  boot: [keys.sessions, keys.boot],
  writeback: [keys.storage, keys.sessions, keys.alerts],
  iscsi: [keys.iscsi, keys.targets],
  storage: [keys.storage],
  settings: [keys.settings, keys.dhcp],
  user: [keys.users],
  backup: [keys.backups],
  alert: [keys.alerts],
  schedule: [keys.schedules],
};

const isPage = (v: unknown): v is Page<{ id: string }> =>
  !!v && typeof v === 'object' && Array.isArray((v as Page<unknown>).items);

/** Replaces (or removes, with `next` null) the item `id` in every cached list page under `root`. */
export function patchLists<T extends { id: string }>(
  qc: QueryClient,
  root: QueryKey,
  id: string,
  next: ((old: T) => T) | null,
): boolean {
  let found = false;
  for (const [key, data] of qc.getQueriesData<Page<T>>({ queryKey: root })) {
    if (!isPage(data)) continue;
    const i = data.items.findIndex((x) => x.id === id);
    if (i < 0) continue;
    found = true;
    const items = next
      ? data.items.map((x, j) => (j === i ? next(x) : x))
      : data.items.filter((_, j) => j !== i);
    qc.setQueryData(key, { ...data, items, total: next ? data.total : Math.max(0, data.total - 1) });
  }
  return found;
}

/**
 * Applies one live event to the query cache: patches what the event carries (so the screen changes
 * at once) and marks the affected queries stale through `invalidate`, which the caller throttles
 * (a boot storm of 200 machines must not become 200 refetches).
 */
export function applyEvent(qc: QueryClient, e: LiveEvent, invalidate: (key: QueryKey) => void): void {
  const [topic, verb] = e.type.split('.') as [string, string];
  if (e.type === 'traffic.sample') {
    // one event per sampling pass for the whole room: patched in place, never a refetch
    applyTrafficSample(qc, keys.traffic, e.data as TrafficSample);
    return;
  }
  if (topic === 'job' && verb === 'progress') {
    // progress ticks are frequent: patch in place, refetch only when the job is not on screen or
    // it just left the queue. The event carries the whole job (or, from older servers, the progress).
    const d = (e.data ?? {}) as Partial<Job> & Partial<NonNullable<Job['progress']>>;
    const whole = 'progress' in d && typeof d.progress === 'object';
    let wasQueued = false;
    const found = patchLists<Job>(qc, keys.jobs, e.id, (j) => {
      wasQueued ||= j.state === 'queued';
      return whole
        ? { ...j, ...d }
        : { ...j, state: 'running', progress: { ...(j.progress ?? {}), ...d } as Job['progress'] };
    });
    if (!found || wasQueued) invalidate(keys.jobs);
    return;
  }
  if (e.data && typeof e.data === 'object' && 'id' in e.data) {
    const root =
      topic === 'machine'
        ? keys.machines
        : topic === 'job'
          ? keys.jobs
          : topic === 'session'
            ? keys.sessions
            : topic === 'user'
              ? keys.users
              : topic === 'image'
                ? keys.images
                : null;
    if (root) patchLists(qc, root, e.id, () => e.data as { id: string });
  } else if (verb === 'deleted') {
    const root = topic === 'machine' ? keys.machines : topic === 'image' ? keys.images : null;
    if (root) patchLists(qc, root, e.id, null);
  }
  // DHCP daemon state changes are not boots
  const stale = e.type === 'boot.dhcp' ? [keys.dhcp] : (STALE[topic] ?? []);
  for (const k of stale) invalidate(k);
}

/** Coalesces invalidations per key: at most one refetch per `ms` for a burst of events. */
export function throttledInvalidator(qc: QueryClient, ms = 400) {
  const pending = new Map<string, ReturnType<typeof setTimeout>>();
  const fn = (key: QueryKey) => {
    const k = JSON.stringify(key);
    if (pending.has(k)) return;
    pending.set(
      k,
      setTimeout(() => {
        pending.delete(k);
        void qc.invalidateQueries({ queryKey: key });
      }, ms),
    );
  };
  fn.cancel = () => {
    for (const t of pending.values()) clearTimeout(t);
    pending.clear();
  };
  return fn;
}
