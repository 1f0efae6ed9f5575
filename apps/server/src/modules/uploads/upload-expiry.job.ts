import { stat } from 'node:fs/promises';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import type { HashingTusStore } from '../../adapters/tus/tus-store.js';
import type { JobContext, JobHandler } from '../jobs/job-types.js';
import type { JobsService } from '../jobs/jobs.service.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { ImagesService } from '../images/images.service.js';
import { importKey } from './uploads.service.js';

export const UPLOAD_EXPIRY_JOB = 'image.upload_expiry';
/** An upload that has not received a byte for this long is given up (its image and bytes deleted). */
export const UPLOAD_MAX_IDLE_MS = 7 * 24 * 3600_000;

const mtime = async (path: string) => (await stat(path).catch(() => null))?.mtimeMs ?? null;

/** `image.upload_expiry` (scheduled): deletes images whose upload was abandoned, with their partial bytes. */
export class UploadExpiryJob implements JobHandler {
  readonly type = UPLOAD_EXPIRY_JOB;

  constructor(
    private readonly deps: {
      repo: ImagesRepository;
      images: ImagesService;
      files: ImageFiles;
      jobs: JobsService;
      tus: HashingTusStore;
      maxIdleMs?: number;
    },
  ) {}

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    const maxIdle = this.deps.maxIdleMs ?? UPLOAD_MAX_IDLE_MS;
    const now = Date.now();
    const expired: string[] = [];
    for (const img of await this.deps.repo.listByState('uploading')) {
      if (ctx.signal.aborted) break;
      if (await this.deps.jobs.activeByKey(importKey(img.id))) continue;
      // the last byte received (tus or streaming PUT), else the creation of the image
      const last = Math.max(
        (await mtime(this.deps.tus.filePath(img.id))) ?? 0,
        (await mtime(this.deps.files.stagingPath('put', img.id))) ?? 0,
        Date.parse(img.updated_at),
      );
      if (now - last < maxIdle) continue;
      try {
        await this.deps.images.delete(img.id);
        expired.push(img.id);
      } catch (err) {
        ctx.log.warn({ err, imageId: img.id }, 'cannot delete an abandoned upload');
      }
    }
    if (expired.length) ctx.log.info({ expired }, 'abandoned uploads deleted');
    return { deleted: expired.length, images: expired };
  }
}
