import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server as TusServer, ERRORS, MemoryLocker, type Upload } from '@tus/server';
import type { Logger } from 'pino';
import { IdParams, Image, ImageContentQuery, ImageImportRequest, ImageJobResult } from '@ggnet/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError, badRequest, conflict, isAppError, notFound } from '../../errors/app-error.js';
import type { App } from '../../http/types.js';
import {
  problemBody,
  toTusError,
  type HashingTusStore,
  TusHttpError,
} from '../../adapters/storage/tus-store.js';
import type { ImagesRepository } from '../images/images.repository.js';
import { MAX_UPLOAD_BYTES, type UploadsService } from './uploads.service.js';
import { isTusError, TusPatch } from './tus-patch.js';

export const UPLOADS_PATH = '/api/v1/uploads';
/** Id of the image a POST just created, for tus's naming function (keyed by the raw request). */
const createdIds = new WeakMap<IncomingMessage, string>();
const nodeRequest = (req: unknown) =>
  (req as { runtime?: { node?: { req?: IncomingMessage } } }).runtime?.node?.req;

/** tus's own errors (offset mismatch, gone...) with a stable code and a hint. */
const TUS_CODES: Record<number, { code: string; hint: string }> = {
  400: { code: 'bad_request', hint: 'see the tus 1.0 protocol' },
  403: { code: 'forbidden', hint: 'see the tus 1.0 protocol' },
  404: {
    code: 'upload_not_found',
    hint: 'the upload finished, was cancelled or never existed: start a new one',
  },
  409: { code: 'upload_offset_mismatch', hint: 'ask for the offset with HEAD and resume from there' },
  410: { code: 'upload_gone', hint: 'start a new upload' },
  412: { code: 'tus_version', hint: 'send Tus-Resumable: 1.0.0' },
  413: { code: 'upload_too_large', hint: 'no boot image needs to be this big' },
  415: { code: 'unsupported_media_type', hint: 'send Content-Type: application/offset+octet-stream' },
};

/** tus writes text/plain; make every error response of the upload endpoints problem+json. */
function problemJsonOnErrors(res: ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
  (res as unknown as { writeHead: (...a: unknown[]) => ServerResponse }).writeHead = (...args: unknown[]) => {
    const status = args[0] as number;
    if (status >= 400) {
      for (const a of args) {
        if (Array.isArray(a)) {
          for (let i = 0; i < a.length; i += 2) {
            const name = String(a[i]).toLowerCase();
            if (name === 'content-type') a[i + 1] = 'application/problem+json';
            // tus closes the connection on errors; with the rest of the body unread that is a TCP
            // reset, and the client never sees this answer. Node reads and drops the rest instead.
            if (name === 'connection') a[i + 1] = 'keep-alive';
          }
        } else if (a && typeof a === 'object') {
          const h = a as Record<string, unknown>;
          for (const k of Object.keys(h)) if (k.toLowerCase() === 'content-type') delete h[k];
          h['content-type'] = 'application/problem+json';
        }
      }
    }
    return writeHead(...args);
  };
}

/**
 * @tus/server (through srvx) waits for `res.end(callback)`, whose callback only runs on 'finish':
 * when the client has gone, that never happens and the request would stay pending forever. Call
 * it on 'close' too (tus's work is done by the time it writes its answer).
 */
function settleOnClose(res: ServerResponse): void {
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  (res as unknown as { end: (...a: unknown[]) => ServerResponse }).end = (...args: unknown[]) => {
    const cb = args.find((a): a is () => void => typeof a === 'function');
    if (cb) {
      if (res.destroyed) setImmediate(cb);
      else res.once('close', () => cb());
    }
    return end(...args);
  };
}

/**
 * After an error answer the client may still be sending the body. Reading (and dropping) what is
 * in flight keeps the connection healthy so the client reads the answer; past 64 MiB or 30 s the
 * connection is cut instead.
 */
function drainRest(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let drained = 0;
  const cut = () => req.socket?.destroy();
  const timer = setTimeout(cut, 30_000);
  timer.unref();
  // the web-stream adapter tus read through no longer reads; it would pause the request again
  req.removeAllListeners('data');
  req.on('data', (c: Buffer) => {
    drained += c.length;
    if (drained > 64 * 1024 * 1024) cut();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

/** The answer to a tus error: problem+json with a stable code and a hint, whatever threw it. */
function tusErrorResponse(
  err: unknown,
  log: { error(obj: object, msg: string): void },
): { status_code: number; body: string } {
  if (isTusError(err)) {
    if (err.body.startsWith('{')) return { status_code: err.status_code, body: err.body };
    const known = TUS_CODES[err.status_code];
    return {
      status_code: err.status_code,
      body: problemBody(
        err.status_code,
        known?.code ?? (err.status_code >= 500 ? 'upload_failed' : 'bad_request'),
        String(err.body).trim(),
        known?.hint,
      ),
    };
  }
  log.error({ err }, 'upload failed');
  return {
    status_code: 500,
    body: problemBody(500, 'internal_error', 'the upload failed on the server; it has been logged'),
  };
}

/** The last byte of an upload is in: verify it, move it into the image, queue the conversion. */
function finishUpload(store: HashingTusStore, uploads: UploadsService, log: Logger) {
  return async (upload: Upload): Promise<Record<string, string>> => {
    const size = upload.size ?? upload.offset;
    try {
      const sha256 = await store.digest(upload.id, size);
      const r = await uploads.complete(upload.id, store.filePath(upload.id), {
        size,
        sha256,
        expectedSha256: upload.metadata?.sha256 ?? null,
      });
      await store.forget(upload.id);
      return { 'GGnet-Image-Id': upload.id, 'GGnet-Sha256': sha256, 'GGnet-Job-Id': r.jobId };
    } catch (err) {
      await store.discard(upload.id);
      if (isAppError(err)) throw toTusError(err);
      log.error({ err, upload: upload.id }, 'cannot complete upload');
      throw new TusHttpError(500, problemBody(500, 'internal_error', 'the upload could not be stored'));
    }
  };
}

/**
 * The tus endpoints: @tus/server for creation, HEAD and OPTIONS, and our own PATCH (TusPatch, the
 * hot path), both on one HashingTusStore and one lock. Upload id = image id.
 */
export function createTus(
  store: HashingTusStore,
  uploads: UploadsService,
  log: Logger,
): { server: TusServer; patch: TusPatch } {
  const locker = new MemoryLocker();
  const finish = finishUpload(store, uploads, log);
  const server = new TusServer({
    path: UPLOADS_PATH,
    datastore: store,
    locker,
    relativeLocation: true,
    maxSize: MAX_UPLOAD_BYTES,
    // the upload id is the id of the image the route handler created after its checks
    namingFunction: (req) => {
      const raw = nodeRequest(req);
      const id = raw && createdIds.get(raw);
      if (!id) throw TusHttpError.of(ERRORS.UNKNOWN_ERROR);
      return id;
    },
    // a POST that carries data (creation-with-upload) can complete an upload too
    onUploadFinish: async (_req, upload: Upload) => ({ headers: await finish(upload) }),
    onResponseError: (_req, err) => tusErrorResponse(err, log),
  });
  return { server, patch: new TusPatch(store, locker, finish) };
}

/**
 * Upload endpoints: tus 1.0 at /api/v1/uploads (POST creates the image after the checks, PATCH
 * appends, HEAD tells the offset, DELETE abandons), plain `PUT /api/v1/images/{id}/content`,
 * `POST /api/v1/images/import` (admin) and `POST /api/v1/images/{id}/convert`.
 * Bodies of uploads are streams: Fastify never parses or buffers them.
 */
export async function registerUploadsRoutes(
  app: App,
  deps: { uploads: UploadsService; tus: { server: TusServer; patch: TusPatch }; repo: ImagesRepository },
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
  const toTus = (req: FastifyRequest, reply: FastifyReply, after?: () => Promise<void>) => {
    const p = handleTus(req, reply)
      .then(after)
      .finally(() => inflight.delete(p));
    inflight.add(p);
    return p;
  };
  const handleTus = async (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    problemJsonOnErrors(reply.raw);
    settleOnClose(reply.raw);
    try {
      await deps.tus.server.handle(req.raw, reply.raw);
    } catch (err) {
      app.log.error({ err }, 'tus handler failed');
      if (!reply.raw.headersSent) reply.raw.writeHead(500).end();
      else reply.raw.destroy();
    }
    drainRest(req.raw);
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
        const meta = deps.uploads.parseTusMetadata(req.headers['upload-metadata'] as string | undefined);
        const img = await deps.uploads.begin(meta, length, req.user?.username ?? null);
        req.auditTarget = { type: 'image', id: img.id };
        createdIds.set(req.raw, img.id);
        // tus refused after we created the image: do not leave it behind
        await toTus(req, reply, async () => {
          if (reply.raw.statusCode !== 201) await deps.uploads.abandon(img.id).catch(() => undefined);
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
        try {
          await deps.tus.patch.handle(req.params.id, req.raw, reply, closing.signal);
        } catch (err) {
          // the client may still be sending: drop what is in flight so that it reads this answer
          drainRest(req.raw);
          const r = tusErrorResponse(err, app.log);
          return reply
            .code(r.status_code)
            .header('tus-resumable', '1.0.0')
            .type('application/problem+json')
            .send(JSON.parse(r.body) as object);
        }
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
            'Not resumable: for big files on unreliable links use the tus endpoint /api/v1/uploads.',
          params: IdParams,
          querystring: ImageContentQuery,
          response: { 200: Image },
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
