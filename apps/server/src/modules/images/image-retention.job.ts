import type { Logger } from 'pino';
import type { SettingsService } from '../settings/settings.service.js';
import type { JobContext, JobHandler } from '../jobs/job-types.js';
import type { ImagesRepository, VersionRow } from './images.repository.js';
import type { ImagesService } from './images.service.js';

export const RETENTION_JOB = 'image.retention';

/**
 * Which versions retention deletes: of the ready versions that are neither published nor
 * protected nor released to a group (a ring), all but the newest `keep`, skipping any version a
 * session or kept writeback uses.
 */
export function versionsToPrune(
  versions: VersionRow[],
  publishedId: string | null,
  inUse: Set<string>,
  keep: number,
  pinned: Set<string> = new Set(),
): VersionRow[] {
  const candidates = versions
    .filter((v) => v.state === 'ready' && v.id !== publishedId && v.protected !== 1 && !pinned.has(v.id))
    .sort((a, b) => b.number - a.number);
  return candidates.slice(keep).filter((v) => !inUse.has(v.id));
}

/** `image.retention` (scheduled): deletes old unprotected, unpublished versions beyond storage.retainVersions. */
export class ImageRetentionJob implements JobHandler {
  readonly type = RETENTION_JOB;

  constructor(
    private readonly deps: {
      repo: ImagesRepository;
      images: ImagesService;
      settings: SettingsService;
      log?: Logger;
    },
  ) {}

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    const keep = (await this.deps.settings.get()).storage.retainVersions;
    const deleted: Array<{ imageId: string; versionId: string; number: number }> = [];
    const ids = await this.deps.repo.allIds();
    for (const [i, imageId] of ids.entries()) {
      if (ctx.signal.aborted) break;
      ctx.progress({ stage: 'pruning', percent: (i / Math.max(1, ids.length)) * 100 });
      const img = await this.deps.repo.findRow(imageId);
      if (!img) continue;
      const prune = versionsToPrune(
        await this.deps.repo.listVersions(imageId),
        img.published_version_id,
        await this.deps.repo.versionsInUse(imageId),
        keep,
        await this.deps.repo.versionsPinned(imageId),
      );
      for (const v of prune) {
        try {
          // deleteVersion re-checks published / in use at the moment of deleting
          await this.deps.images.deleteVersion(imageId, v.id);
          deleted.push({ imageId, versionId: v.id, number: v.number });
        } catch (err) {
          ctx.log.info({ err, imageId, versionId: v.id }, 'retention skipped a version');
        }
      }
    }
    if (deleted.length) ctx.log.info({ deleted, keep }, 'retention deleted old versions');
    return { deleted: deleted.length, versions: deleted, keep };
  }
}
