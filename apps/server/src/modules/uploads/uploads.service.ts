// Over 350 lines: the three ways in (tus, PUT, import) share their checks and one completion; file work is in adapters/.
import type { Readable } from 'node:stream';
import {
  formatBytes,
  ImageName,
  type ImageUploadMetadata,
  type Image,
  type ImageContentQuery,
  type ImageImportRequest,
  type Media,
} from '@ggnet/contracts';
import {
  AppError,
  badRequest,
  conflict,
  insufficientStorage,
  notFound,
  unprocessable,
} from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import { NodeSha256, removeQuietly, sizeOf, writeAt } from '../../adapters/storage/hashing-writer.js';
import { copyHashed, createStagingFile } from '../../adapters/storage/intake-files.js';
import type { HashingTusStore } from '../../adapters/tus/tus-store.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { JobsService } from '../jobs/jobs.service.js';
import { CONVERT_JOB, convertKey } from '../images/image-convert.job.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { ImagesService } from '../images/images.service.js';
import type { MediaService } from '../media/media.service.js';
import { isIso9660 } from '../../adapters/storage/image-files.js';
import { displayFilename, fileStem, resolveImportPath } from './upload-metadata.js';

export const IMPORT_JOB = 'image.import';
export const importKey = (imageId: string) => `${IMPORT_JOB}:${imageId}`;

/** Largest upload accepted (VHDX's own limit is 64 TB; nobody boots more than this). */
export const MAX_UPLOAD_BYTES = 16 * 1024 ** 4;

export interface UploadsDeps {
  images: ImagesService;
  /** An upload that is an ISO becomes an install medium (not converted). */
  media?: MediaService;
  repo: ImagesRepository;
  files: ImageFiles;
  jobs: JobsService;
  settings: SettingsService;
  importDir: string;
}

/** What a finished upload became: an image being converted, or an install medium (an ISO). */
export type UploadOutcome = { kind: 'image'; image: Image; jobId: string } | { kind: 'media'; media: Media };

/**
 * Taking images in: resumable uploads (tus), plain streaming PUT, and imports of files already on
 * the server. Each ends the same way (`complete`): the verified file is moved atomically into
 * `images/<id>/source`, the image becomes `uploaded`, and a conversion job is queued.
 */
export class UploadsService {
  private tus: HashingTusStore | null = null;
  /** Streaming PUTs in progress (one per image), so that a delete can stop them. */
  private readonly puts = new Map<string, AbortController>();

  constructor(private readonly deps: UploadsDeps) {
    deps.images.onBeforeDelete((id) => this.stopIntake(id));
  }

  attachTusStore(store: HashingTusStore): void {
    this.tus = store;
  }

  get importDir(): string {
    return this.deps.importDir;
  }

  // ---- checks ------------------------------------------------------------------

  /** Refuses (507) when `bytes` would not fit above storage.reserveBytes, counting other uploads still coming. */
  async ensureSpace(bytes: number, exceptImageId?: string): Promise<void> {
    const { files, settings, repo } = this.deps;
    const reserve = (await settings.get()).storage.reserveBytes;
    const free = await files.freeBytes();
    let pending = 0;
    for (const img of await repo.listByState('uploading')) {
      if (img.id === exceptImageId || !img.source_size) continue;
      const got = (await this.tus?.received(img.id)) ?? (await sizeOf(files.stagingPath('put', img.id))) ?? 0;
      pending += Math.max(0, Number(img.source_size) - got);
    }
    const available = free - reserve - pending;
    if (bytes > available) {
      throw insufficientStorage(
        `not enough space for ${formatBytes(bytes)}: ${formatBytes(Math.max(0, free))} free, ${formatBytes(reserve)} kept in reserve (storage.reserveBytes)${pending ? `, ${formatBytes(pending)} promised to uploads in progress` : ''}`,
        'free space in the data directory (delete unused images or versions) or lower storage.reserveBytes',
      );
    }
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw badRequest(
        'invalid_length',
        'the upload length must be a positive number of bytes',
        'send Upload-Length (tus) or Content-Length',
      );
    }
    if (size > MAX_UPLOAD_BYTES) {
      throw new AppError(413, 'upload_too_large', `uploads are limited to ${formatBytes(MAX_UPLOAD_BYTES)}`, {
        hint: 'no boot image needs to be this big',
      });
    }
  }

  /**
   * Two uploads with the same name: the second gets 409 image_name_taken. Exception: a failed
   * image that never got a version does not hold its name; a new upload replaces it (so retrying a
   * broken upload just works).
   */
  private async freeName(name: string): Promise<void> {
    const existing = await this.deps.repo.findByName(name);
    if (!existing) return;
    const versions = await this.deps.repo.listVersions(existing.id);
    if (existing.state === 'failed' && versions.length === 0) {
      await this.deps.images.delete(existing.id);
      return;
    }
    throw conflict(
      'image_name_taken',
      `an image named ${JSON.stringify(name)} already exists (${existing.state})`,
      existing.state === 'uploading'
        ? 'another upload of that name is in progress: resume it, delete it, or choose another name'
        : 'choose another name, or delete that image first',
    );
  }

  // ---- intake ------------------------------------------------------------------

  /** Creates the image of a new upload (state uploading) after the size, space and name checks. */
  async begin(meta: ImageUploadMetadata, size: number, by: string | null): Promise<Image> {
    this.checkSize(size);
    await this.ensureSpace(size);
    await this.freeName(meta.name);
    return this.deps.images.create(
      { name: meta.name, description: meta.description, osType: meta.osType ?? 'windows' },
      by,
      { source_filename: displayFilename(meta.filename), source_size: size },
    );
  }

  /** The disk filled up during an upload: the bytes are gone, the image says why. */
  async diskFull(imageId: string, err: Error): Promise<AppError> {
    const message = `the disk filled up during the upload (${err.message}); the partial upload was removed`;
    await this.fail(imageId, message);
    return insufficientStorage(message, 'free space in the data directory, then upload again');
  }

  private async fail(imageId: string, message: string): Promise<void> {
    await this.deps.repo.update(imageId, { state: 'failed', error: message, updated_at: nowIso() });
    await this.deps.images.publish('image.updated', imageId).catch(() => undefined);
  }

  /**
   * A whole file has arrived in `stagingPath` with this sha256: check it against the expected one,
   * move it into images/<id>/source (fsync + rename + fsync), mark the image uploaded and queue its
   * conversion. On a mismatch the bytes are removed and the image is failed. An ISO 9660 file (an
   * installer) is recognised by its content and becomes an install medium with the upload's id
   * instead: stored as it is, never converted; the upload's image record goes.
   */
  async complete(
    imageId: string,
    stagingPath: string,
    got: { size: number; sha256: string; expectedSha256?: string | null },
  ): Promise<UploadOutcome> {
    const { repo, files, images } = this.deps;
    const img = await repo.findRow(imageId);
    if (!img) {
      await removeQuietly(stagingPath);
      throw new AppError(410, 'image_deleted', 'the image was deleted while its file was uploading', {
        hint: 'upload again to create it anew',
      });
    }
    if (img.state !== 'uploading') {
      await removeQuietly(stagingPath);
      throw conflict(
        'image_not_uploading',
        `the image is ${img.state}, not waiting for an upload`,
        'create a new image to upload a file',
      );
    }
    const expected = got.expectedSha256?.toLowerCase();
    if (expected && expected !== got.sha256) {
      await removeQuietly(stagingPath);
      const message = `checksum mismatch: the received file has sha256 ${got.sha256}, but ${expected} was expected; the upload was removed`;
      await this.fail(imageId, message);
      throw unprocessable(
        'checksum_mismatch',
        message,
        'the file changed or was damaged on the way: upload it again',
      );
    }
    if (this.deps.media && (await isIso9660(stagingPath))) {
      const media = await this.deps.media.adopt(imageId, stagingPath, {
        name: img.name,
        filename: img.source_filename,
        size: got.size,
        sha256: got.sha256,
        by: img.created_by,
      });
      await images.dropUploadRecord(imageId);
      return { kind: 'media', media };
    }
    const rel = files.sourceRelPath(imageId);
    await files.moveInto(stagingPath, rel);
    await repo.update(imageId, {
      state: 'uploaded',
      error: null,
      source_path: rel,
      source_size: got.size,
      source_sha256: got.sha256,
      updated_at: nowIso(),
    });
    const jobId = await this.queueConversion(imageId, img.created_by);
    return { kind: 'image', image: await images.publish('image.updated', imageId), jobId };
  }

  /** Version record + conversion job (one active conversion per image). */
  async queueConversion(imageId: string, by: string | null): Promise<string> {
    const active = await this.deps.jobs.activeByKey(convertKey(imageId));
    if (active) return active.id;
    const img = await this.deps.repo.findRow(imageId);
    const versionId = await this.deps.images.createPendingVersion(imageId, {
      comment: img?.source_filename ? `converted from ${img.source_filename}` : 'converted upload',
      author: by,
      parentVersionId: null,
    });
    const { job, created } = await this.deps.jobs.enqueue(
      CONVERT_JOB,
      { imageId, versionId },
      { dedupeKey: convertKey(imageId), createdBy: by, maxAttempts: 3 },
    );
    if (!created) await this.deps.repo.deleteVersion(versionId);
    return job.id;
  }

  /** POST /images/{id}/convert: converts the kept upload of a failed image again. */
  async retryConversion(imageId: string, by: string | null): Promise<{ image: Image; jobId: string }> {
    const img = await this.deps.repo.findRow(imageId);
    if (!img) throw notFound('image', imageId);
    if (
      img.state !== 'failed' ||
      !img.source_path ||
      (await sizeOf(this.deps.files.inside(img.source_path))) === null
    ) {
      throw conflict(
        'nothing_to_convert',
        img.state === 'failed'
          ? 'the uploaded file of this image is gone (it was refused as bad input)'
          : `the image is ${img.state}`,
        'upload the file again',
      );
    }
    await this.deps.repo.update(imageId, { state: 'uploaded', error: null, updated_at: nowIso() });
    const jobId = await this.queueConversion(imageId, by);
    return { image: await this.deps.images.publish('image.updated', imageId), jobId };
  }

  /** `PUT /images/{id}/content`: the whole file in one request body, hashed on the way. */
  async putContent(
    imageId: string,
    body: Readable,
    opts: ImageContentQuery & { length: number | null },
  ): Promise<Image | Media> {
    const { repo, files } = this.deps;
    const img = await repo.findRow(imageId);
    if (!img) throw notFound('image', imageId);
    if (img.state !== 'uploading') {
      throw conflict(
        'image_not_uploading',
        `the image is ${img.state}; its content was already uploaded`,
        'create a new image to upload another file',
      );
    }
    if (opts.length === null) {
      throw new AppError(411, 'length_required', 'send Content-Length with the file', {
        hint: 'curl -T FILE sends it; for a stream of unknown length use the resumable upload (tus) at /api/v1/uploads',
      });
    }
    this.checkSize(opts.length);
    if (this.puts.has(imageId) || (await this.tus?.received(imageId)) != null) {
      throw conflict(
        'upload_in_progress',
        'another upload of this image is in progress',
        'wait for it to finish, or delete the image',
      );
    }
    await this.ensureSpace(opts.length, imageId);
    const ac = new AbortController();
    this.puts.set(imageId, ac);
    const staging = files.stagingPath('put', imageId);
    try {
      await repo.update(imageId, {
        source_size: opts.length,
        ...(opts.filename ? { source_filename: displayFilename(opts.filename) } : {}),
        updated_at: nowIso(),
      });
      await createStagingFile(files.uploadsDir, staging);
      const hasher = new NodeSha256();
      let written: number;
      try {
        written = await writeAt(staging, body, 0, hasher, { signal: ac.signal });
      } catch (err) {
        await removeQuietly(staging);
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOSPC' || e.code === 'EDQUOT') throw await this.diskFull(imageId, e);
        if (ac.signal.aborted) throw conflict('image_deleted', 'the image was deleted during the upload');
        throw badRequest(
          'upload_interrupted',
          `the upload was interrupted: ${e.message}`,
          'upload again; for resumable uploads use tus at /api/v1/uploads',
        );
      }
      if (written !== opts.length) {
        await removeQuietly(staging);
        throw badRequest(
          'upload_incomplete',
          `received ${written} bytes, Content-Length said ${opts.length}`,
          'upload again',
        );
      }
      const r = await this.complete(imageId, staging, {
        size: written,
        sha256: hasher.digest(),
        expectedSha256: opts.sha256,
      });
      return r.kind === 'image' ? r.image : r.media;
    } finally {
      this.puts.delete(imageId);
    }
  }

  /** `POST /images/import`: an image from a file already on the server; the copy runs as a job. */
  async importFile(req: ImageImportRequest, by: string | null): Promise<{ image: Image; jobId: string }> {
    const { real, size } = await resolveImportPath(this.deps.importDir, req.path);
    this.checkSize(size);
    await this.ensureSpace(size);
    const filename = displayFilename(real);
    const name = req.name ?? ImageName.safeParse(fileStem(filename)).data;
    if (!name)
      throw badRequest('name_required', 'cannot make an image name from the file name', 'give a name');
    await this.freeName(name);
    const image = await this.deps.images.create({ name, osType: req.osType ?? 'windows' }, by, {
      source_filename: filename,
      source_size: size,
    });
    const { job } = await this.deps.jobs.enqueue(
      IMPORT_JOB,
      { imageId: image.id, path: real, expectedSha256: req.sha256?.toLowerCase() ?? null },
      { dedupeKey: importKey(image.id), createdBy: by, maxAttempts: 3 },
    );
    return { image, jobId: job.id };
  }

  /** Copies an import file into staging with its sha256 (the import job's work). */
  async copyForImport(
    imageId: string,
    path: string,
    signal: AbortSignal,
    onProgress: (done: number, total: number) => void,
  ): Promise<{ staging: string; size: number; sha256: string }> {
    const { real, size } = await resolveImportPath(this.deps.importDir, path);
    const staging = this.deps.files.stagingPath('import', imageId);
    await createStagingFile(this.deps.files.uploadsDir, staging);
    const r = await copyHashed(real, staging, { signal, onProgress: (n) => onProgress(n, size) });
    return { staging, ...r };
  }

  /** An upload given up by its client (tus termination) or refused after creation: the image goes. */
  async abandon(imageId: string): Promise<void> {
    if (await this.deps.repo.findRow(imageId)) await this.deps.images.delete(imageId);
    else await this.tus?.discard(imageId);
  }

  /** Before an image is deleted: stop its upload, import or conversion, and remove their files. */
  private async stopIntake(imageId: string): Promise<void> {
    this.puts.get(imageId)?.abort();
    await this.tus?.discard(imageId);
    await removeQuietly(
      this.deps.files.stagingPath('put', imageId),
      this.deps.files.stagingPath('import', imageId),
    );
    for (const key of [importKey(imageId), convertKey(imageId)]) {
      const job = await this.deps.jobs.activeByKey(key);
      if (!job) continue;
      if (job.state === 'queued' && job.attempts === 0 && (await this.deps.jobs.dropUnstarted(job.id)))
        continue;
      await this.deps.jobs.cancel(job.id).catch(() => undefined);
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const j = await this.deps.jobs.get(job.id);
        if (j.state !== 'queued' && j.state !== 'running') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const j = await this.deps.jobs.get(job.id);
      if (j.state === 'queued' || j.state === 'running') {
        throw conflict(
          'image_busy',
          `the image's ${j.type} job is still ${j.state}; it was asked to stop`,
          'a worker stops it within seconds; if no worker runs (ggnet worker / GGNET_WORKER), start one, then delete again',
        );
      }
    }
  }
}
