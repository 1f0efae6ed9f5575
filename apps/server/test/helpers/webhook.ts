import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { verifyWebhookSignature } from '../../src/modules/alerts/webhook-signature.js';

export interface ReceivedCall {
  headers: IncomingHttpHeaders;
  body: string;
  /** The receiver's own check of the signature and timestamp (what a real receiver does). */
  valid: boolean;
}

/**
 * A webhook receiver on loopback (port 0) that verifies every call's signature with `secret`, answers
 * with the next status of `statuses` (then 200), or redirects every call to `redirectTo`.
 */
export async function webhookReceiver(
  secret: string,
  opts: { statuses?: number[]; redirectTo?: string } = {},
): Promise<{ url: string; got: ReceivedCall[]; close: () => Promise<void> }> {
  const statuses = [...(opts.statuses ?? [])];
  const got: ReceivedCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const valid = verifyWebhookSignature(
        secret,
        {
          signature: req.headers['x-ggnet-signature'] as string | undefined,
          timestamp: req.headers['x-ggnet-timestamp'] as string | undefined,
        },
        body,
        Math.floor(Date.now() / 1000),
      );
      got.push({ headers: req.headers, body, valid });
      if (opts.redirectTo) res.writeHead(307, { location: opts.redirectTo }).end();
      else res.writeHead(statuses.shift() ?? 200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${addr.port}/hooks/ggnet?token=abc`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
