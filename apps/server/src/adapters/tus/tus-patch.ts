import type { IncomingMessage } from 'node:http';
import { ERRORS, type MemoryLocker, type Upload } from '@tus/server';
import { BODY_TOO_LARGE } from '../storage/hashing-writer.js';
import { TusHttpError } from './tus-errors.js';
import type { HashingTusStore } from './tus-store.js';

/**
 * tus 1.0 PATCH (core protocol), served without @tus/server's request adapters. Those turn the
 * body into a web stream and back and pipe it through two more streams: four hops per 64 KiB
 * chunk, about a third of the server's CPU for a big upload on this 2-core machine (see bench/
 * upload). Here the raw request goes straight to the store, which reads up to 32 MiB ahead of the
 * disk. Checks, lock (the tus server's own, so HEAD and POST see the same one) and answers are
 * those of @tus/server's PatchHandler; deferred lengths are not accepted (POST refuses them).
 */
export class TusPatch {
  constructor(
    private readonly store: HashingTusStore,
    private readonly locker: MemoryLocker,
    /** Runs when the last byte is in; its headers go into the 204. */
    private readonly onFinish: (upload: Upload) => Promise<Record<string, string>>,
  ) {}

  /**
   * Appends the request's body; resolves with the headers of the 204 answer, throws a TusHttpError
   * for tus's error answers.
   */
  async handle(id: string, req: IncomingMessage, shutdown?: AbortSignal): Promise<Record<string, string>> {
    const h = req.headers;
    if (h['tus-resumable'] !== '1.0.0')
      throw new TusHttpError(412, 'Tus-Resumable Required', { 'tus-version': '1.0.0' });
    if (h['content-type'] === undefined) throw TusHttpError.of(ERRORS.INVALID_CONTENT_TYPE);
    if (h['content-type'] !== 'application/offset+octet-stream')
      throw new TusHttpError(400, 'Invalid content-type');
    const offsetHeader = h['upload-offset'];
    if (typeof offsetHeader !== 'string') throw TusHttpError.of(ERRORS.MISSING_OFFSET);
    if (!/^(0|[1-9]\d{0,15})$/.test(offsetHeader)) throw new TusHttpError(400, 'Invalid upload-offset');
    if (h['upload-length'] !== undefined)
      throw TusHttpError.of(ERRORS.UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION);
    const offset = Number(offsetHeader);

    // a newer request for the same upload (a client resuming after its connection broke) asks
    // the older one to stop between two writes
    const stop = new AbortController();
    req.once('close', () => {
      if (!req.complete) stop.abort();
    });
    // a server that stops does not wait for uploads: they stop between two writes, the client resumes
    if (shutdown?.aborted) throw TusHttpError.of(ERRORS.ABORTED);
    const onShutdown = () => stop.abort();
    shutdown?.addEventListener('abort', onShutdown, { once: true });
    try {
      return await this.append(id, offset, req, stop);
    } finally {
      shutdown?.removeEventListener('abort', onShutdown);
    }
  }

  private async append(
    id: string,
    offset: number,
    req: IncomingMessage,
    stop: AbortController,
  ): Promise<Record<string, string>> {
    const h = req.headers;
    const lock = this.locker.newLock(id);
    await lock.lock(stop.signal, () => stop.abort());
    let upload: Upload;
    try {
      upload = await this.store.getUpload(id);
      if (upload.offset !== offset) throw TusHttpError.of(ERRORS.INVALID_OFFSET);
      const size = upload.size ?? 0;
      const length = h['content-length'] === undefined ? null : Number(h['content-length']);
      if (length !== null && offset + length > size) throw TusHttpError.of(ERRORS.ERR_MAX_SIZE_EXCEEDED);
      try {
        upload.offset = await this.store.writeBody(id, offset, req, {
          maxBytes: size - offset,
          signal: stop.signal,
        });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === BODY_TOO_LARGE)
          throw TusHttpError.of(ERRORS.ERR_MAX_SIZE_EXCEEDED);
        if ((err as Error).name === 'AbortError') throw TusHttpError.of(ERRORS.ABORTED);
        throw err;
      }
    } finally {
      await lock.unlock();
    }
    const headers: Record<string, string> = {
      'tus-resumable': '1.0.0',
      'upload-offset': String(upload.offset),
    };
    if (upload.offset === upload.size) Object.assign(headers, await this.onFinish(upload));
    return headers;
  }
}
