import type { Job } from '@ggnet/contracts';
import { sha256File, type ImageFiles } from '../../adapters/storage/image-files.js';
import type { EventBus } from '../../events/event-bus.js';
import { PermanentJobError, type JobContext, type JobHandler } from '../jobs/job-types.js';
import type { ImagesRepository } from './images.repository.js';
import type { ImagesService } from './images.service.js';

export const CHECKSUM_JOB = 'image.checksum';
export const checksumKey = (versionId: string) => `${CHECKSUM_JOB}:${versionId}`;

interface ChecksumPayload {
  imageId: string;
  versionId: string;
}

/**
 * `image.checksum`: the sha256 of a version made from a maintenance writeback. The apply itself is
 * a rename (or a reflink clone) and answers at once; reading back a 100 GiB disk to hash it would
 * hold the request for minutes, past any proxy's timeout. The version is bootable meanwhile; its
 * sha256 is null until this job records it.
 */
export class ImageChecksumJob implements JobHandler {
  readonly type = CHECKSUM_JOB;

  constructor(
    private readonly deps: {
      repo: ImagesRepository;
      images: ImagesService;
      files: ImageFiles;
      bus: EventBus;
    },
  ) {}

  private payload(job: Job): ChecksumPayload {
    const p = job.payload as Partial<ChecksumPayload>;
    if (typeof p.imageId !== 'string' || typeof p.versionId !== 'string')
      throw new PermanentJobError('invalid job payload');
    return { imageId: p.imageId, versionId: p.versionId };
  }

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    const { imageId, versionId } = this.payload(ctx.job);
    const row = await this.deps.repo.findVersionById(versionId);
    // deleted meanwhile (retention, an admin): nothing to do
    if (!row || row.state !== 'ready' || !row.path) return { imageId, versionId, skipped: true };
    if (row.sha256) return { imageId, versionId, sha256: row.sha256 };
    const path = this.deps.files.inside(row.path);
    const total = Number(row.size_bytes ?? 0) || undefined;
    ctx.progress({ stage: 'hashing', bytesDone: 0, bytesTotal: total });
    let sha256: string;
    try {
      sha256 = await sha256File(path, {
        signal: ctx.signal,
        onProgress: (n) => ctx.progress({ stage: 'hashing', bytesDone: n, bytesTotal: total }),
      });
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' &&
        !(await this.deps.repo.findVersionById(versionId))
      )
        return { imageId, versionId, skipped: true };
      throw err;
    }
    // the version may have gone while it was read
    if (!(await this.deps.repo.findVersionById(versionId))) return { imageId, versionId, skipped: true };
    await this.deps.repo.updateVersion(versionId, { sha256 });
    const v = await this.deps.images.getVersion(imageId, versionId).catch(() => null);
    if (v) this.deps.bus.publish('version.updated', versionId, v);
    return { imageId, versionId, sha256 };
  }
}
