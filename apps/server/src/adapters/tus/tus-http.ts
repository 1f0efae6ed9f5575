import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Problem } from '@ggnet/contracts';
import { Server as TusServer, ERRORS, MemoryLocker, type Upload } from '@tus/server';
import type { Logger } from 'pino';
import { NodeRequest } from 'srvx/node';
import { isAppError } from '../../errors/app-error.js';
import { problemOf } from '../../errors/problem.js';
import { TusHttpError, tusError, tusProblem } from './tus-errors.js';
import { TusPatch } from './tus-patch.js';
import type { HashingTusStore } from './tus-store.js';

/** An upload whose last byte is in, verified against nothing yet: what the owner of uploads gets. */
export interface FinishedUpload {
  id: string;
  size: number;
  /** sha256 of every byte received. */
  sha256: string;
  /** Where its bytes are (the owner moves the file away). */
  filePath: string;
  metadata: Record<string, string | null>;
}

/**
 * tus 1.0 over HTTP for the upload endpoints. Errors are answered as problem+json (errors/problem.ts)
 * with a stable code and a hint; the owner of the uploads decides what a finished upload becomes.
 */
export interface TusHttp {
  /**
   * Serves a tus request other than PATCH (POST creation, HEAD, OPTIONS) and writes its answer.
   * `uploadId`: the id a POST creates (the id of the image its route made after its checks).
   */
  serve(req: IncomingMessage, res: ServerResponse, uploadId?: string): Promise<void>;
  /**
   * PATCH: appends the body to the upload; resolves with the headers of the 204 answer, or throws
   * (the rest of a refused body is read and dropped, so that the client reads the answer).
   */
  patch(id: string, req: IncomingMessage, shutdown?: AbortSignal): Promise<Record<string, string>>;
  /** Any error of the tus endpoints as problem+json, with the extra headers of its answer. */
  problem(err: unknown): { problem: Problem; headers: Record<string, string> };
}

export interface TusServerHttpOptions {
  /** URL path of the creation endpoint, e.g. /api/v1/uploads. */
  path: string;
  maxSize: number;
  store: HashingTusStore;
  /** The last byte of an upload is in: returns headers for the answer; throws AppErrors to refuse it. */
  onFinish: (u: FinishedUpload) => Promise<Record<string, string>>;
  log: Logger;
}

/**
 * After an error answer the client may still be sending the body. Reading (and dropping) what is
 * in flight keeps the connection healthy so the client reads the answer; past 64 MiB or 30 s the
 * connection is cut instead.
 */
export function drainRest(req: IncomingMessage): void {
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

/**
 * Writes @tus/server's answer. Its errors are text/plain: every error answer of the upload
 * endpoints is problem+json (the body already is, see onResponseError). tus closes the connection
 * on errors; with the rest of the body unread that is a TCP reset and the client never sees the
 * answer, so the connection is kept and Node reads and drops the rest instead. Resolves once the
 * answer is written or the client has gone (never waits for a client that left).
 */
async function writeAnswer(res: ServerResponse, answer: Response): Promise<void> {
  const error = answer.status >= 400;
  const headers: string[] = [];
  answer.headers.forEach((value, name) => {
    if (error && name === 'content-type') headers.push(name, 'application/problem+json');
    else if (error && name === 'connection') headers.push(name, 'keep-alive');
    else headers.push(name, value);
  });
  const body = answer.body ? Buffer.from(await answer.arrayBuffer()) : null;
  if (res.destroyed) return;
  await new Promise<void>((resolve) => {
    res.once('close', resolve);
    res.writeHead(answer.status, answer.statusText, headers);
    if (body) res.end(body, resolve);
    else res.end(resolve);
  });
}

/**
 * The real tus endpoints: @tus/server for creation, HEAD and OPTIONS (its handlers on a web Request
 * made from the Node request, its answer written by writeAnswer), and our own PATCH (TusPatch, the
 * hot path), both on one HashingTusStore and one lock. Upload id = image id.
 */
export class TusServerHttp implements TusHttp {
  private readonly server: TusServer;
  private readonly patcher: TusPatch;
  /** Id of the upload a POST creates, for tus's naming function (keyed by the request tus gets). */
  private readonly createdIds = new WeakMap<object, string>();

  constructor(private readonly o: TusServerHttpOptions) {
    const locker = new MemoryLocker();
    const finish = (upload: Upload) => this.finish(upload);
    this.server = new TusServer({
      path: o.path,
      datastore: o.store,
      locker,
      relativeLocation: true,
      maxSize: o.maxSize,
      namingFunction: (req) => {
        const id = this.createdIds.get(req);
        if (!id) throw TusHttpError.of(ERRORS.UNKNOWN_ERROR);
        return id;
      },
      // a POST that carries data (creation-with-upload) can complete an upload too
      onUploadFinish: async (_req, upload: Upload) => ({ headers: await finish(upload) }),
      onResponseError: (_req, err) => this.errorBody(err),
    });
    this.patcher = new TusPatch(o.store, locker, finish);
  }

  private errorBody(err: unknown): { status_code: number; body: string } {
    const { problem } = this.problem(err);
    return { status_code: problem.status, body: JSON.stringify(problem) };
  }

  problem(err: unknown): { problem: Problem; headers: Record<string, string> } {
    return {
      problem: tusProblem(err, this.o.log),
      headers: err instanceof TusHttpError ? err.headers : {},
    };
  }

  async serve(req: IncomingMessage, res: ServerResponse, uploadId?: string): Promise<void> {
    try {
      const request = new NodeRequest({ req, res });
      if (uploadId) this.createdIds.set(request, uploadId);
      await writeAnswer(res, await this.server.handleWeb(request));
    } catch (err) {
      this.o.log.error({ err }, 'tus handler failed');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
    drainRest(req);
  }

  async patch(id: string, req: IncomingMessage, shutdown?: AbortSignal): Promise<Record<string, string>> {
    try {
      return await this.patcher.handle(id, req, shutdown);
    } catch (err) {
      // the client may still be sending: drop what is in flight so that it reads the answer
      drainRest(req);
      throw err;
    }
  }

  /** The last byte of an upload is in: its digest to the owner, which moves it into the image. */
  private async finish(upload: Upload): Promise<Record<string, string>> {
    const { store } = this.o;
    const size = upload.size ?? upload.offset;
    try {
      const sha256 = await store.digest(upload.id, size);
      const headers = await this.o.onFinish({
        id: upload.id,
        size,
        sha256,
        filePath: store.filePath(upload.id),
        metadata: upload.metadata ?? {},
      });
      await store.forget(upload.id);
      return headers;
    } catch (err) {
      await store.discard(upload.id);
      if (isAppError(err)) throw tusError(err);
      this.o.log.error({ err, upload: upload.id }, 'cannot complete upload');
      throw new TusHttpError(
        500,
        JSON.stringify(
          problemOf({ status: 500, code: 'internal_error', detail: 'the upload could not be stored' }),
        ),
      );
    }
  }
}
