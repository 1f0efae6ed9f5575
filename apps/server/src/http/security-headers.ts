import type { App } from './types.js';

/** A Host header that may go into a CSP source (host, IPv4, [IPv6], optional port). */
const HOST_RE = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The Content-Security-Policy of the console (the built Vite app): scripts and styles only from
 * GGnet itself (no inline scripts; inline styles because Mantine sets CSS variables in style
 * attributes and a <style> element), API calls and the events WebSocket to this host only, no
 * plugins, no framing, no <base> or form posts elsewhere.
 */
export function contentSecurityPolicy(host: string | undefined): string {
  // 'self' covers ws:/wss: of the same host in CSP level 3; named too for browsers that predate it
  const ws = host && HOST_RE.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${ws}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Headers on every response: the CSP above (a route that sets its own, such as the API docs, keeps
 * it), no framing (clickjacking), no MIME sniffing, no Referer to other sites.
 */
export function registerSecurityHeaders(app: App): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (!reply.hasHeader('content-security-policy'))
      void reply.header('content-security-policy', contentSecurityPolicy(req.headers.host));
    void reply.header('x-frame-options', 'DENY');
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'no-referrer');
    void reply.header('cross-origin-opener-policy', 'same-origin');
    return payload;
  });
}
