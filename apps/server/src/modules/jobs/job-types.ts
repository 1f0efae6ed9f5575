import type { Job } from '@ggnet/contracts';
import type { Logger } from 'pino';

/** What a handler reports while it works; the worker adds rate and ETA. */
export interface ProgressUpdate {
  bytesDone?: number;
  bytesTotal?: number;
  /** Used when there are no byte counts. */
  percent?: number;
  stage?: string;
}

export interface JobContext {
  job: Job;
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborted when the job is cancelled, its lease is lost, or the worker stops: kill children with it. */
  signal: AbortSignal;
  progress(p: ProgressUpdate): void;
  log: Logger;
}

export type JobOutcome = 'failed' | 'dead' | 'cancelled';

/**
 * One kind of background work. `run` must be safe to start over: a retry (after a crash, kill -9
 * or a transient error) calls `cleanup` and then `run` again from the beginning.
 */
export interface JobHandler {
  readonly type: string;
  run(ctx: JobContext): Promise<Record<string, unknown> | void>;
  /** Removes what an interrupted attempt left behind (partial output). Called before every attempt and when giving up. */
  cleanup?(job: Job, log: Logger): Promise<void>;
  /** The job ended without success for good: reflect it where users look (e.g. the image is failed). */
  onGiveUp?(job: Job, outcome: JobOutcome, error: string, log: Logger, cause?: unknown): Promise<void>;
}

/** A failure that a retry cannot fix (bad input): the job fails at once, with this message. */
export class PermanentJobError extends Error {
  constructor(
    message: string,
    readonly code = 'job_failed',
  ) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

/** Why a running job's signal was aborted. */
export type AbortReason = 'cancelled' | 'lease_lost' | 'shutdown';

export const abortReason = (signal: AbortSignal): AbortReason | null =>
  signal.aborted ? ((signal.reason as AbortReason | undefined) ?? 'cancelled') : null;
