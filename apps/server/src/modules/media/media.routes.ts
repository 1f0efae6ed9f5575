import { createReadStream } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IdParams, Media, MediaListQuery, page } from '@ggnet/contracts';
import { sendProblem } from '../../errors/problem.js';
import type { App } from '../../http/types.js';
import { parseRange } from './byte-range.js';
import type { MediaService } from './media.service.js';

/** `/api/v1/media`: install media (ISO files; they arrive through the upload paths). */
export function registerMediaRoutes(app: App, deps: { media: MediaService }): void {
  const tags = ['media'];
  app.get(
    '/api/v1/media',
    {
      schema: {
        tags,
        summary: 'List install media (ISO files uploaded through /api/v1/uploads, recognised by content)',
        querystring: MediaListQuery,
        response: { 200: page(Media) },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.media.list(req.query),
  );
  app.get(
    '/api/v1/media/:id',
    {
      schema: { tags, summary: 'Get an install medium', params: IdParams, response: { 200: Media } },
      config: { access: 'viewer' },
    },
    async (req) => deps.media.get(req.params.id),
  );
  app.delete(
    '/api/v1/media/:id',
    {
      schema: {
        tags,
        summary: 'Delete an install medium (not while a machine installs from it)',
        params: IdParams,
      },
      config: { access: 'operator', audit: 'media.delete', targetType: 'media' },
    },
    async (req, reply) => {
      await deps.media.delete(req.params.id);
      return reply.status(204).send();
    },
  );
}

const ID_RE = /^[0-9a-f-]{36}$/;

/**
 * `GET /boot/media/{id}.iso` on the boot endpoints: the ISO that the machine at this address
 * installs from, with single byte ranges (iPXE reads a SAN disk over HTTP by ranges). Anyone else
 * gets 404; a range past the end 416 with the size.
 */
export async function serveBootMedia(
  req: FastifyRequest,
  reply: FastifyReply,
  media: MediaService,
  clientIp: string,
  file: string,
): Promise<FastifyReply> {
  const id = file.replace(/\.iso$/, '');
  const found = ID_RE.test(id) ? await media.servable(id, clientIp) : null;
  if (!found) {
    return sendProblem(reply, {
      status: 404,
      code: 'not_found',
      detail: 'no install medium for this client',
      hint: 'install media are served only to a machine that boots in install mode with that medium',
      requestId: String(req.id),
    });
  }
  const range = parseRange(req.headers.range, found.size);
  reply.header('accept-ranges', 'bytes').header('cache-control', 'no-store').type('application/octet-stream');
  if (range === 'unsatisfiable') {
    return sendProblem(reply, {
      status: 416,
      code: 'range_not_satisfiable',
      detail: `the range ${JSON.stringify(req.headers.range)} starts past the end (${found.size} bytes)`,
      hint: 'ask for bytes below the size given in Content-Range',
      requestId: String(req.id),
      headers: { 'content-range': `bytes */${found.size}` },
    });
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? found.size - 1;
  reply.header('content-length', String(end - start + 1));
  if (range) reply.status(206).header('content-range', `bytes ${start}-${end}/${found.size}`);
  if (found.size === 0) return reply.send();
  // HEAD (Fastify's from this GET) drops the stream and keeps the headers
  return reply.send(createReadStream(found.path, { start, end, highWaterMark: 1024 * 1024 }));
}
