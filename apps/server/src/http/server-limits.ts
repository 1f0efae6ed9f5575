import type { Server } from 'node:http';
import type { App } from './types.js';

export interface ServerLimits {
  /** Open connections at most; Node closes further ones at once (config: maxConnections). */
  maxConnections: number;
  /** A request's headers and body must have arrived within this (config: bodyTimeoutSec). */
  bodyTimeoutMs: number;
  /**
   * Open connections per client address at most (the boot listener: one host must not hold all of
   * them). Not on the API port, which nginx may reach from one address for every client.
   */
  maxConnectionsPerAddress?: number;
}

/**
 * Bounds what one slow or greedy client can hold on a listener: a connection limit, a deadline for
 * the headers (Node's headersTimeout) and one for the body. Fastify's own `requestTimeout` would
 * also cut uploads, which stream for minutes; so the body deadline is a hook that routes streaming
 * large bodies (config.streamsBody: tus PATCH, PUT content) opt out of. A body that trickles in
 * slower than the deadline gets a 408 and its connection is closed.
 */
export function applyServerLimits(app: App, limits: ServerLimits): void {
  const server: Server = app.server;
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = Math.min(60_000, Math.max(1000, limits.bodyTimeoutMs));
  const perAddress = limits.maxConnectionsPerAddress;
  if (perAddress) {
    const open = new Map<string, number>();
    server.on('connection', (socket) => {
      const ip = socket.remoteAddress ?? '';
      const n = (open.get(ip) ?? 0) + 1;
      if (n > perAddress) {
        socket.destroy();
        return;
      }
      open.set(ip, n);
      socket.once('close', () => {
        const left = (open.get(ip) ?? 1) - 1;
        if (left > 0) open.set(ip, left);
        else open.delete(ip);
      });
    });
  }

  app.addHook('onRequest', (req, reply, done) => {
    const raw = req.raw;
    const len = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
    if (!hasBody || raw.complete || req.routeOptions.config?.streamsBody) return done();
    const timer = setTimeout(() => {
      const socket = raw.socket as typeof raw.socket | undefined;
      // app.inject() has no socket: nothing to cut
      if (raw.complete || typeof socket?.destroy !== 'function') return;
      req.log.warn(
        {
          ip: req.ip,
          method: req.method,
          route: req.routeOptions.url ?? null,
          timeoutMs: limits.bodyTimeoutMs,
        },
        'request body not received in time: connection closed',
      );
      // what Node's own requestTimeout does: a bare 408 on the socket (no response started yet),
      // then close; a client still sending gets a reset
      if (!reply.raw.headersSent && socket.writable) {
        socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        socket.destroySoon();
      } else socket.destroy();
    }, limits.bodyTimeoutMs);
    timer.unref();
    const clear = () => clearTimeout(timer);
    raw.once('end', clear);
    raw.once('close', clear);
    done();
  });
}
