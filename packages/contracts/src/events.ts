import { z } from 'zod';
// first: sets zod up for the browser's CSP before any schema is built (see common.ts)
import './common.js';

export const EVENT_TOPICS = [
  'machine',
  'image',
  'version',
  'job',
  'target',
  'session',
  'boot',
  'settings',
  'user',
  'storage',
  'writeback',
  'iscsi',
  'backup',
  'alert',
  'schedule',
  'media',
  'traffic',
  'group',
] as const;
export type EventTopic = (typeof EVENT_TOPICS)[number];

/** One message on the events WebSocket: `type` is `<topic>.<verb>` such as `machine.updated` or `job.progress`. */
export const LiveEvent = z.object({
  type: z.string().regex(/^[a-z]+\.[a-z_]+$/),
  id: z.string(),
  data: z.unknown(),
});
export type LiveEvent = z.infer<typeof LiveEvent>;

/** First message a client sends when it did not put the token in the query string. */
export const EventsAuth = z.object({ type: z.literal('auth'), token: z.string() });
