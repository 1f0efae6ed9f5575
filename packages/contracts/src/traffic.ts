import { z } from 'zod';
import { Id, Timestamp } from './common.js';

/**
 * Live iSCSI traffic of one session, from the kernel's TCP counters of its connections (sampled by
 * the session monitor). "Read" is what the client read from its disk (bytes the server sent and the
 * client acknowledged), "written" what it wrote (bytes the server received). Totals never go back:
 * a closed connection's bytes stay counted, a reconnect adds its own.
 */
export const Traffic = z.object({
  readBytes: z.number().int().nonnegative(),
  writtenBytes: z.number().int().nonnegative(),
  /** Over the last sampling interval (0 on a session's first sample). */
  readBytesPerSec: z.number().nonnegative(),
  writeBytesPerSec: z.number().nonnegative(),
  sampledAt: Timestamp,
});
export type Traffic = z.infer<typeof Traffic>;

/** A rate at one sample (sparklines, the room's throughput chart). */
export const TrafficPoint = z.object({
  at: Timestamp,
  readBytesPerSec: z.number().nonnegative(),
  writeBytesPerSec: z.number().nonnegative(),
});
export type TrafficPoint = z.infer<typeof TrafficPoint>;

export const MachineTraffic = z.object({
  machineId: Id,
  machineName: z.string().nullable(),
  sessionId: Id,
  traffic: Traffic,
});
export type MachineTraffic = z.infer<typeof MachineTraffic>;

/** `traffic.sample` on the events WebSocket, once per sampling pass (one event for the whole room). */
export const TrafficSample = z.object({
  at: Timestamp,
  /** Room-wide rates: the sum over the sampled sessions. */
  total: TrafficPoint,
  machines: z.array(MachineTraffic),
});
export type TrafficSample = z.infer<typeof TrafficSample>;

/** `GET /api/v1/traffic`: the latest sample and the recent history (room-wide and per machine). */
export const TrafficSnapshot = z.object({
  sampledAt: Timestamp.nullable(),
  /** Seconds between samples (the session monitor's interval). */
  intervalSec: z.number(),
  total: z.array(TrafficPoint),
  machines: z.array(MachineTraffic.extend({ history: z.array(TrafficPoint) })),
});
export type TrafficSnapshot = z.infer<typeof TrafficSnapshot>;
