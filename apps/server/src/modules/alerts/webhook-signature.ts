import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-ggnet-signature';
export const TIMESTAMP_HEADER = 'x-ggnet-timestamp';
export const EVENT_HEADER = 'x-ggnet-event';
export const DELIVERY_HEADER = 'x-ggnet-delivery';

/**
 * The signature of a webhook call: `sha256=` + hex HMAC-SHA256 keyed with alerts.webhookSecret over
 * the bytes `<timestamp>.<body>` (timestamp = the X-GGnet-Timestamp header, Unix seconds; body = the
 * exact request body). The timestamp is signed too, so a receiver that refuses old timestamps (say
 * more than 5 minutes off its clock) cannot be fed a replayed call (docs/admin-guide.md).
 */
export function webhookSignature(secret: string, timestamp: number, body: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return `sha256=${mac.digest('hex')}`;
}

/** What a receiver does (tests, and the reference for the docs): constant-time compare plus a clock window. */
export function verifyWebhookSignature(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string | Buffer,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  const ts = Number(headers.timestamp);
  if (!headers.signature || !Number.isInteger(ts) || Math.abs(nowSec - ts) > toleranceSec) return false;
  const want = Buffer.from(webhookSignature(secret, ts, body));
  const got = Buffer.from(headers.signature);
  return want.length === got.length && timingSafeEqual(want, got);
}
