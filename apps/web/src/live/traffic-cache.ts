import type { QueryClient, QueryKey } from '@tanstack/react-query';
import {
  TRAFFIC_HISTORY,
  type TrafficPoint,
  type TrafficSample,
  type TrafficSnapshot,
} from '@ggnet/contracts';

const trim = (points: TrafficPoint[]) => points.slice(-TRAFFIC_HISTORY);

/**
 * Folds one `traffic.sample` event into the cached `GET /traffic` snapshot (under `key`): the room's point and
 * each machine's point are appended (the last TRAFFIC_HISTORY kept), machines no longer sampled
 * (their session ended) leave. Without a cached snapshot yet, the query's first answer brings it.
 */
export function applyTrafficSample(qc: QueryClient, key: QueryKey, sample: TrafficSample): void {
  qc.setQueryData<TrafficSnapshot | null>(key, (old) => {
    if (!old) return old;
    const before = new Map(old.machines.map((m) => [m.sessionId, m]));
    return {
      ...old,
      sampledAt: sample.at,
      total: trim([...old.total, sample.total]),
      machines: sample.machines.map((m) => ({
        ...m,
        history: trim([
          ...(before.get(m.sessionId)?.history ?? []),
          {
            at: sample.at,
            readBytesPerSec: m.traffic.readBytesPerSec,
            writeBytesPerSec: m.traffic.writeBytesPerSec,
          },
        ]),
      })),
    };
  });
}
