import {
  keepPreviousData,
  useMutation,
  useQuery,
  useQueryClient,
  type QueryKey,
} from '@tanstack/react-query';
import type {
  AuditEntry,
  Group,
  Image,
  ImageVersion,
  Job,
  Machine,
  MaintenanceAccess,
  Media,
  Page,
  Session,
  SessionTimeline,
  SettingsResponse,
  Target,
  TrafficSnapshot,
  User,
} from '@ggnet/contracts';
import { keys } from '../live/apply-event';
import { api, type QueryValue, type RequestOptions } from './client';
import { isApiError } from './api-error';

type Params = Record<string, QueryValue>;

export function useList<T>(
  root: QueryKey,
  path: string,
  params: Params = {},
  opts: { enabled?: boolean } = {},
) {
  return useQuery({
    queryKey: [...root, 'list', params],
    queryFn: ({ signal }) => api<Page<T>>(path, { query: params, signal }),
    placeholderData: keepPreviousData,
    enabled: opts.enabled ?? true,
  });
}

export const useMachines = (p: Params) => useList<Machine>(keys.machines, '/machines', p);
export const useImages = (p: Params = { limit: 500, sort: 'name' }) =>
  useList<Image>(keys.images, '/images', p);
export const useMedia = (p: Params = { limit: 500, sort: 'name' }) => useList<Media>(keys.media, '/media', p);
export const useGroups = (p: Params = { limit: 500, sort: 'name' }) =>
  useList<Group>(keys.groups, '/groups', p);
export const useSessions = (p: Params) => useList<Session>(keys.sessions, '/sessions', p);
export const useJobs = (p: Params) => useList<Job>(keys.jobs, '/jobs', p);
export const useTargets = (p: Params) => useList<Target>(keys.targets, '/targets', p);
export const useUsers = (p: Params) => useList<User>(keys.users, '/users', p);
export const useAudit = (p: Params) => useList<AuditEntry>(keys.audit, '/audit', p);

/** Live sessions by machine id (uptime and "booting since" in the machines table). */
export function useLiveSessions() {
  return useSessions({ live: 'true', limit: 500, sort: '-startedAt' });
}

/**
 * Live iSCSI traffic: the snapshot of `GET /traffic` (latest figures and recent samples), then kept
 * current by the `traffic.sample` events (live/traffic-cache.ts). null from a server without it.
 */
export function useTraffic() {
  return useQuery({
    queryKey: keys.traffic,
    queryFn: async ({ signal }) => {
      try {
        return await api<TrafficSnapshot>('/traffic', { signal });
      } catch (e) {
        if (isApiError(e) && (e.status === 404 || e.status === 405)) return null;
        throw e;
      }
    },
    staleTime: 60_000,
  });
}

/** Count of machines with a status (one cheap list call with limit=1). */
export function useMachineCount(status: Machine['status'] | null) {
  return useQuery({
    queryKey: [...keys.machines, 'count', status],
    queryFn: ({ signal }) =>
      api<Page<Machine>>('/machines', { query: { limit: 1, status: status ?? undefined }, signal }).then(
        (p) => p.total,
      ),
  });
}

export function useVersions(imageId: string | null) {
  return useQuery({
    queryKey: [...keys.images, imageId, 'versions'],
    queryFn: ({ signal }) => api<Page<ImageVersion>>(`/images/${imageId}/versions`, { signal }),
    enabled: !!imageId,
  });
}

export function useTimeline(sessionId: string | null) {
  return useQuery({
    queryKey: [...keys.sessions, sessionId, 'timeline'],
    queryFn: ({ signal }) =>
      api<SessionTimeline>(`/sessions/${sessionId}/timeline`, { signal }).then((r) => r.items),
    enabled: !!sessionId,
  });
}

export function useSettings() {
  return useQuery({
    queryKey: keys.settings,
    queryFn: ({ signal }) => api<SettingsResponse>('/settings', { signal }),
  });
}

/** GET /api/v1/boot/maintenance (operators): PIN set? approval? who waits at a boot menu. */
export function useMaintenanceAccess(enabled = true) {
  return useQuery({
    queryKey: [...keys.boot, 'maintenance'],
    queryFn: ({ signal }) => api<MaintenanceAccess>('/boot/maintenance', { signal }),
    enabled,
  });
}

/**
 * An endpoint another part of GGnet may not serve yet (storage accounting, boot statistics):
 * resolves null on 404 so that the page shows an empty state instead of an error.
 */
export function useOptional<T>(
  key: QueryKey,
  path: string,
  query?: Params,
  opts: { enabled?: boolean } = {},
) {
  return useQuery({
    enabled: opts.enabled ?? true,
    queryKey: [...key, query ?? {}],
    queryFn: async ({ signal }) => {
      try {
        return await api<T>(path, { query, signal });
      } catch (e) {
        if (isApiError(e) && (e.status === 404 || e.status === 405)) return null;
        throw e;
      }
    },
    retry: false,
  });
}

/** A mutation that calls the API and marks the given roots stale when it succeeds. */
export function useApiMutation<V, R = unknown>(
  request: (v: V) => { path: string } & RequestOptions,
  invalidate: QueryKey[],
  opts: { silent?: boolean } = {},
) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: V) => {
      const { path, ...rest } = request(v);
      return api<R>(path, rest);
    },
    onSuccess: () => Promise.all(invalidate.map((k) => qc.invalidateQueries({ queryKey: k }))),
    meta: { silent: opts.silent ?? false },
  });
}
