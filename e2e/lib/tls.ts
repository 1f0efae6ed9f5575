import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

export interface TlsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTPS request that trusts only `ca` (the certificate install.sh generated, or the test's):
 * the way a browser that was told to trust it would connect. An Upgrade answer resolves too.
 */
export function tls(
  url: string,
  ca: string,
  opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<TlsResponse> {
  return new Promise((ok, fail) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = httpsRequest(
      url,
      {
        method: opts.method ?? 'GET',
        ca,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(opts.headers ?? {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      ok({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** A self-signed certificate for 127.0.0.1 in dir (cert.pem, key.pem); returns the certificate. */
export function selfSigned(dir: string): { cert: string; certFile: string; keyFile: string } {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certFile, 'utf8'), certFile, keyFile };
}

/** Opens the events WebSocket over TLS and returns the HTTP status of the answer (101 = upgraded). */
export async function wsUpgradeStatus(base: string, ca: string, token: string): Promise<number> {
  const r = await tls(`${base}/api/v1/events?token=${encodeURIComponent(token)}`, ca, {
    headers: {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-key': randomBytes(16).toString('base64'),
      'sec-websocket-version': '13',
    },
  });
  return r.status;
}
