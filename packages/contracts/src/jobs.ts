import { z } from 'zod';
import { Id, ListQuery, Timestamp, sortBy } from './common.js';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled'] as const;
export const JobState = z.enum(JOB_STATES);
export type JobState = z.infer<typeof JobState>;

export const JobProgress = z.object({
  percent: z.number().min(0).max(100),
  bytesDone: z.number().nullable(),
  bytesTotal: z.number().nullable(),
  bytesPerSec: z.number().nullable(),
  etaSec: z.number().nullable(),
  stage: z.string().nullable(),
});
export type JobProgress = z.infer<typeof JobProgress>;

export const Job = z.object({
  id: Id,
  type: z.string(),
  state: JobState,
  progress: JobProgress.nullable(),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  error: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()),
  result: z.record(z.string(), z.unknown()).nullable(),
  cancelRequested: z.boolean(),
  createdBy: z.string().nullable(),
  createdAt: Timestamp,
  runAt: Timestamp,
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
});
export type Job = z.infer<typeof Job>;

export const JOB_SORT_FIELDS = ['createdAt', 'state', 'type', 'runAt'] as const;
export const JobListQuery = ListQuery.extend({
  /** Default: -createdAt (newest first). */
  sort: sortBy(JOB_SORT_FIELDS),
  state: JobState.optional(),
  type: z.string().max(64).optional(),
});
export type JobListQuery = z.infer<typeof JobListQuery>;
