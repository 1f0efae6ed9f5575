import {
  IdParams,
  Image,
  ImageContentQuery,
  ImageImportRequest,
  ImageJobResult,
  Media,
} from '@ggnet/contracts';
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { TusServerHttp, type TusHttp } from '../../adapters/tus/tus-http.js';
import type { HashingTusStore } from '../../adapters/tus/tus-store.js';
import { AppError, badRequest, conflict, notFound } from '../../errors/app-error.js';
import type { App } from '../../http/types.js';
import type { ImagesRepository } from '../images/images.repository.js';
import { parseTusMetadata } from './upload-metadata.js';
import { MAX_UPLOAD_BYTES, type UploadsService } from './uploads.service.js';

export const UPLOADS_PATH = '/api/v1/uploads';

/**
 * The tus endpoints (adapters/tus): an upload whose last byte is in is verified, moved into its
 * image and queued for conversion. Upload id = image id.
 */
export function createTus(store: HashingTusStore, uploads: UploadsService, log: Logger): TusHttp {
  return new TusServerHttp({
    path: UPLOADS_PATH,
    maxSize: MAX_UPLOAD_BYTES,
    store,
    log,
    onFinish: async (u): Promise<Record<string, string>> => {
      const r = await uploads.complete(u.id, u.filePath, {
        size: u.size,
        sha256: u.sha256,
        expectedSha256: u.metadata.sha256 ?? null,
      });
      // an ISO became an install medium (same id), not an image
      if (r.kind === 'media') return { 'GGnet-Media-Id': u.id, 'GGnet-Sha256': u.sha256 };
      return { 'GGnet-Image-Id': u.id, 'GGnet-Sha256': u.sha256, 'GGnet-Job-Id': r.jobId };
    },
  });
}

/**
 * Upload endpoints: tus 1.0 at /api/v1/uploads (POST creates the image after the checks, PATCH
 * appends, HEAD tells the offset, DELETE abandons), plain `PUT /api/v1/images/{id}/content`,
 * `POST /api/v1/images/import` (admin) and `POST /api/v1/images/{id}/convert`.
 * Bodies of uploads are streams: Fastify never parses or buffers them.
 */
export async function registerUploadsRoutes(
  app: App,
  deps: { uploads: UploadsService; tus: TusHttp; repo: ImagesRepository },
): Promise<void> {
  const tags = ['uploads'];
  // uploads stream for minutes: no body deadline (server-limits.ts); they are authenticated
  const op = { access: 'operator' as const, targetType: 'image', streamsBody: true };

  // hijacked requests are not waited for by Fastify's close: wait for them here, so that shutdown
  // never closes the database under an upload that is still completing
  const inflight = new Set<Promise<void>>();
  // PATCHes can run for minutes: on shutdown they stop (the bytes written so far stay for the resume)
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());
  app.addHook('onClose', async () => {
    const t = new Promise((r) => setTimeout(r, 15_000).unref());
    await Promise.race([Promise.allSettled([...inflight]), t]);
  });
  const toTus = (
    req: FastifyRequest,
    reply: FastifyReply,
    o: { uploadId?: string; after?: () => Promise<void> } = {},
  ) => {
    reply.hijack();
    const p = deps.tus
      .serve(req.raw, reply.raw, o.uploadId)
      .then(o.after)
      .finally(() => inflight.delete(p));
    inflight.add(p);
    return p;
  };
  const uploadingImage = async (id: string) => {
    const img = await deps.repo.findRow(id);
    if (!img) throw notFound('upload', id);
    if (img.state === 'failed') {
      // e.g. the disk filled up: a client that retries learns why its upload is gone
      throw new AppError(410, 'upload_failed', img.error ?? 'the upload failed', {
        hint: 'start a new upload once the cause is fixed',
      });
    }
    if (img.state !== 'uploading') {
      throw conflict(
        'upload_finished',
        `the image of this upload is ${img.state}`,
        'the upload is complete; nothing to resume',
      );
    }
  };

  await app.register(async (plain) => {
    plain.removeAllContentTypeParsers();
    plain.addContentTypeParser('*', (_req, _payload, done) => done(null));
    const scope = plain.withTypeProvider<ZodTypeProvider>();

    scope.post(
      UPLOADS_PATH,
      {
        schema: {
          tags,
          summary: 'Start a resumable upload (tus 1.0 creation); creates the image',
          description:
            'tus 1.0 with Upload-Length and Upload-Metadata: name, filename, optional sha256 (expected), osType, description. ' +
            'Answers 201 with Location /api/v1/uploads/{imageId}; continue with PATCH. 409 image_name_taken, 507 insufficient_storage.',
        },
        config: { ...op, audit: 'image.upload' },
      },
      async (req, reply) => {
        if (req.headers['upload-defer-length'] !== undefined || req.headers['upload-length'] === undefined) {
          throw badRequest(
            'length_required',
            'send Upload-Length: uploads of unknown length are not accepted',
            'every tus client sends it for a file',
          );
        }
        const length = Number(req.headers['upload-length']);
        const meta = parseTusMetadata(req.headers['upload-metadata'] as string | undefined);
        const img = await deps.uploads.begin(meta, length, req.user?.username ?? null);
        req.auditTarget = { type: 'image', id: img.id };
        // tus refused after we created the image: do not leave it behind
        await toTus(req, reply, {
          uploadId: img.id,
          after: async () => {
            if (reply.raw.statusCode !== 201) await deps.uploads.abandon(img.id).catch(() => undefined);
          },
        });
      },
    );
    scope.route({
      method: ['PATCH'],
      url: `${UPLOADS_PATH}/:id`,
      schema: { tags, summary: 'Append bytes to an upload (tus 1.0)', params: IdParams },
      config: { ...op, audit: false },
      handler: async (req, reply) => {
        await uploadingImage(req.params.id);
        let headers: Record<string, string>;
        try {
          headers = await deps.tus.patch(req.params.id, req.raw, closing.signal);
        } catch (err) {
          const r = deps.tus.problem(err);
          return reply
            .code(r.problem.status)
            .headers(r.headers)
            .header('tus-resumable', '1.0.0')
            .type('application/problem+json')
            .send(r.problem);
        }
        return reply.code(204).headers(headers).send();
      },
    });
    scope.route({
      method: ['HEAD'],
      url: `${UPLOADS_PATH}/:id`,
      schema: { tags, summary: 'Offset of an upload, to resume it (tus 1.0)', params: IdParams },
      config: { access: 'operator' },
      handler: async (req, reply) => {
        await uploadingImage(req.params.id);
        await toTus(req, reply);
      },
    });
    scope.route({
      method: ['DELETE'],
      url: `${UPLOADS_PATH}/:id`,
      schema: {
        tags,
        summary: 'Abandon an upload: its bytes and its image are deleted (tus termination)',
        params: IdParams,
      },
      config: { ...op, audit: 'image.upload_abandon' },
      handler: async (req, reply) => {
        await uploadingImage(req.params.id);
        await deps.uploads.abandon(req.params.id);
        return reply.header('tus-resumable', '1.0.0').status(204).send();
      },
    });
    scope.options(
      `${UPLOADS_PATH}`,
      { schema: { hide: true }, config: { access: 'public' } },
      async (req, reply) => toTus(req, reply),
    );

    scope.put(
      '/api/v1/images/:id/content',
      {
        schema: {
          tags,
          summary: 'Upload the file of an image in one request (for curl -T)',
          description:
            'Create the image first (POST /api/v1/images), then `curl -T disk.vhdx -H "Authorization: Bearer $T" ' +
            '"$URL/api/v1/images/$ID/content?filename=disk.vhdx&sha256=..."`. Content-Length is required. ' +
            'Not resumable: for big files on unreliable links use the tus endpoint /api/v1/uploads. ' +
            'An ISO file (recognised by its content) becomes an install medium: the answer is then the medium.',
          params: IdParams,
          querystring: ImageContentQuery,
          response: { 200: z.union([Image, Media]) },
        },
        config: { ...op, audit: 'image.upload' },
      },
      async (req) => {
        const len = req.headers['content-length'];
        return deps.uploads.putContent(req.params.id, req.raw, {
          ...req.query,
          length: len === undefined ? null : Number(len),
        });
      },
    );
  });

  app.post(
    '/api/v1/images/import',
    {
      schema: {
        tags,
        summary: "Import an image from a file in the server's import directory (admin)",
        description:
          'The path must be inside the import directory (GGNET_IMPORT_DIR), also after following symbolic links. ' +
          'The copy and the conversion run as jobs; follow them in /api/v1/jobs or on the events WebSocket.',
        body: ImageImportRequest,
        response: { 202: ImageJobResult },
      },
      config: { access: 'admin', audit: 'image.import', targetType: 'image' },
    },
    async (req, reply) => {
      const r = await deps.uploads.importFile(req.body, req.user?.username ?? null);
      req.auditTarget = { type: 'image', id: r.image.id };
      return reply.status(202).send(r);
    },
  );
  app.post(
    '/api/v1/images/:id/convert',
    {
      schema: {
        tags,
        summary: 'Convert the kept upload of a failed image again (e.g. after freeing space)',
        params: IdParams,
        response: { 202: ImageJobResult },
      },
      config: { ...op, audit: 'image.convert' },
    },
    async (req, reply) =>
      reply.status(202).send(await deps.uploads.retryConversion(req.params.id, req.user?.username ?? null)),
  );
}
