import type { Job } from '@ggnet/contracts';
import type { Logger } from 'pino';
import { isAppError } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import { removeQuietly } from '../../adapters/storage/hashing-writer.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import { PermanentJobError, type JobContext, type JobHandler, type JobOutcome } from '../jobs/job-types.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { ImagesService } from '../images/images.service.js';
import { IMPORT_JOB, type UploadsService } from './uploads.service.js';

interface ImportPayload {
  imageId: string;
  path: string;
  expectedSha256: string | null;
}

/**
 * `image.import`: copies a file of the import directory into the image (hashing it on the way),
 * then hands over to the same completion as an upload (checksum, atomic move, conversion job).
 */
export class ImageImportJob implements JobHandler {
  readonly type = IMPORT_JOB;

  constructor(
    private readonly deps: {
      uploads: UploadsService;
      repo: ImagesRepository;
      images: ImagesService;
      files: ImageFiles;
    },
  ) {}

  private payload(job: Job): ImportPayload {
    const p = job.payload as Partial<ImportPayload>;
    if (typeof p.imageId !== 'string' || typeof p.path !== 'string')
      throw new PermanentJobError('invalid job payload');
    return { imageId: p.imageId, path: p.path, expectedSha256: p.expectedSha256 ?? null };
  }

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    const { imageId, path, expectedSha256 } = this.payload(ctx.job);
    const img = await this.deps.repo.findRow(imageId);
    if (!img) throw new PermanentJobError('the image was deleted', 'image_deleted');
    if (img.state !== 'uploading') return { imageId, alreadyImported: true };
    ctx.progress({ stage: 'copying', bytesDone: 0 });
    try {
      const got = await this.deps.uploads.copyForImport(imageId, path, ctx.signal, (done, total) =>
        ctx.progress({ stage: 'copying', bytesDone: done, bytesTotal: total }),
      );
      const r = await this.deps.uploads.complete(imageId, got.staging, { ...got, expectedSha256 });
      if (r.kind === 'media') return { mediaId: r.media.id, sha256: got.sha256, sizeBytes: got.size };
      return { imageId, sha256: got.sha256, sizeBytes: got.size, convertJobId: r.jobId };
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      const e = err as NodeJS.ErrnoException;
      if (isAppError(err)) throw new PermanentJobError(err.message, err.code);
      if (e.code === 'ENOSPC' || e.code === 'EDQUOT') {
        throw new PermanentJobError(
          `the disk filled up during the import: ${e.message}`,
          'insufficient_storage',
        );
      }
      if (e.code === 'ENOENT' || e.code === 'ELOOP' || e.code === 'EACCES') {
        throw new PermanentJobError(`cannot read the file to import: ${e.message}`, 'import_unreadable');
      }
      throw err;
    }
  }

  async cleanup(job: Job): Promise<void> {
    const { imageId } = this.payload(job);
    await removeQuietly(this.deps.files.stagingPath('import', imageId));
  }

  async onGiveUp(job: Job, outcome: JobOutcome, error: string, _log: Logger): Promise<void> {
    const { imageId } = this.payload(job);
    const img = await this.deps.repo.findRow(imageId);
    if (!img || img.state !== 'uploading') return;
    await this.deps.repo.update(imageId, {
      state: 'failed',
      error: outcome === 'cancelled' ? 'import cancelled' : `import failed: ${error}`,
      updated_at: nowIso(),
    });
    await this.deps.images.publish('image.updated', imageId);
  }
}
