import { describe, expect, it } from 'vitest';
import { verifyWebhookSignature, webhookSignature } from './webhook-signature.js';

const SECRET = 'ggnet-test-secret-0123';
const BODY = '{"event":"webhook.test","deliveryId":"d-1"}';
const TS = 1_700_000_000;
// printf '%s' '1700000000.{"event":"webhook.test","deliveryId":"d-1"}' | openssl dgst -sha256 -hmac 'ggnet-test-secret-0123'
const EXPECTED = 'sha256=acafb80ef778cf4f4a680e43438094bf7d1ff0f20d7fad46f6d21fbbf76fd1a5';

describe('webhook signature (HMAC-SHA256 over "<timestamp>.<body>")', () => {
  it('is the exact bytes openssl computes for a fixed body, secret and timestamp', () => {
    expect(webhookSignature(SECRET, TS, BODY)).toBe(EXPECTED);
    expect(webhookSignature(SECRET, TS, Buffer.from(BODY))).toBe(EXPECTED);
  });

  it('changes with the body, the timestamp and the secret', () => {
    expect(webhookSignature(SECRET, TS, BODY.replace('d-1', 'd-2'))).not.toBe(EXPECTED);
    expect(webhookSignature(SECRET, TS + 1, BODY)).not.toBe(EXPECTED);
    expect(webhookSignature(`${SECRET}x`, TS, BODY)).not.toBe(EXPECTED);
  });

  it('a receiver accepts it within its clock window and refuses replays, forgeries and garbage', () => {
    const ok = { signature: EXPECTED, timestamp: String(TS) };
    expect(verifyWebhookSignature(SECRET, ok, BODY, TS + 10)).toBe(true);
    // replayed 10 minutes later
    expect(verifyWebhookSignature(SECRET, ok, BODY, TS + 600)).toBe(false);
    // timestamp moved forward to pass the window: the signature no longer matches
    expect(verifyWebhookSignature(SECRET, { ...ok, timestamp: String(TS + 600) }, BODY, TS + 600)).toBe(
      false,
    );
    expect(verifyWebhookSignature(SECRET, ok, `${BODY} `, TS)).toBe(false);
    expect(verifyWebhookSignature('another-secret-0000', ok, BODY, TS)).toBe(false);
    expect(verifyWebhookSignature(SECRET, { signature: undefined, timestamp: String(TS) }, BODY, TS)).toBe(
      false,
    );
    expect(verifyWebhookSignature(SECRET, { ...ok, timestamp: 'soon' }, BODY, TS)).toBe(false);
    expect(verifyWebhookSignature(SECRET, { ...ok, signature: 'sha256=00' }, BODY, TS)).toBe(false);
  });
});
