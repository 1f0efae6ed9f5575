import { PermanentJobError } from '../jobs/job-types.js';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  webhookSignature,
} from './webhook-signature.js';

/** A webhook body is a few hundred bytes; anything near this is a bug, not a notification. */
export const WEBHOOK_MAX_BODY = 64 * 1024;
/** Bytes of the receiver's answer read at most (kept for the error message), the rest is dropped. */
export const WEBHOOK_MAX_RESPONSE = 1024;
/** Redirects followed at most, and only to the same origin (scheme, host and port). */
export const WEBHOOK_MAX_REDIRECTS = 3;

export interface WebhookCall {
  url: string;
  secret: string;
  body: string;
  event: string;
  deliveryId: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Clock of the timestamp header (tests fix it). */
  now?: () => number;
}

/** A failure worth a retry (network, timeout, 408, 429, 5xx): the job queue retries with backoff. */
export class WebhookRetryableError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'WebhookRetryableError';
  }
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    while (n < WEBHOOK_MAX_RESPONSE) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
      n += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, WEBHOOK_MAX_RESPONSE).toString('utf8');
}

/**
 * POSTs one signed webhook call. Never follows a redirect to another origin (a 3xx to another host is
 * a permanent failure); a call that takes longer than timeoutMs is abandoned. Returns the final status.
 */
export async function postWebhook(call: WebhookCall): Promise<{ status: number; url: string }> {
  const size = Buffer.byteLength(call.body);
  if (size > WEBHOOK_MAX_BODY)
    throw new PermanentJobError(`webhook body of ${size} bytes is over the cap of ${WEBHOOK_MAX_BODY}`);
  let url = new URL(call.url);
  for (let hop = 0; ; hop++) {
    const ts = Math.floor((call.now ?? Date.now)() / 1000);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        body: call.body,
        redirect: 'manual',
        signal: AbortSignal.any([call.signal, AbortSignal.timeout(call.timeoutMs)]),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GGnet-Webhook/1',
          [EVENT_HEADER]: call.event,
          [DELIVERY_HEADER]: call.deliveryId,
          [TIMESTAMP_HEADER]: String(ts),
          [SIGNATURE_HEADER]: webhookSignature(call.secret, ts, call.body),
        },
      });
    } catch (err) {
      if (call.signal.aborted) throw err;
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why =
        e.name === 'TimeoutError' ? `no answer within ${call.timeoutMs} ms` : (e.cause?.message ?? e.message);
      throw new WebhookRetryableError(`webhook ${url.origin} failed: ${why}`, null);
    }
    const text = await readCapped(res);
    if (res.status >= 200 && res.status < 300) return { status: res.status, url: url.href };
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get('location');
      if (!loc) throw new PermanentJobError(`webhook answered ${res.status} without a Location`);
      const next = new URL(loc, url);
      if (next.origin !== url.origin)
        throw new PermanentJobError(
          `webhook redirected to another host (${next.origin}); GGnet never follows that: set alerts.webhookUrl to the final address`,
        );
      if (hop >= WEBHOOK_MAX_REDIRECTS) throw new PermanentJobError('webhook redirected too many times');
      url = next;
      continue;
    }
    const detail = `webhook ${url.origin} answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
    if (res.status === 408 || res.status === 429 || res.status >= 500)
      throw new WebhookRetryableError(detail, res.status);
    throw new PermanentJobError(detail);
  }
}
