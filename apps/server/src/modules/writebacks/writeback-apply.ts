import type { Logger } from 'pino';
import type { ApplyWriteback, ImageVersion, StorageBackend } from '@ggnet/contracts';
import { AppError, conflict, notFound, unavailable } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { ImagesService } from '../images/images.service.js';
import type { StorageBackends } from './storage-backends.js';
import { toWriteback, type WritebacksRepository } from './writebacks.repository.js';

/**
 * A writeback becomes a new version of its image (maintenance), and an apply that a stopped server
 * left half-done is rolled back at the next reconcile, losing nothing.
 */
export class WritebackApply {
  /** Writebacks this process is applying right now (the reconciler leaves them alone). */
  private readonly applyingNow = new Set<string>();

  constructor(
    private readonly repo: WritebacksRepository,
    private readonly images: ImagesRepository,
    private readonly imagesService: ImagesService,
    private readonly files: ImageFiles,
    private readonly backends: StorageBackends,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /** POST /writebacks/{id}/apply: a kept writeback is moved into the version; one in use needs force. */
  async apply(id: string, body: ApplyWriteback, author: string | null): Promise<ImageVersion> {
    const wb = await this.repo.findById(id);
    if (!wb) throw notFound('writeback', id);
    if (wb.state === 'ready' && !body.force)
      throw conflict(
        'writeback_in_use',
        'the writeback is the disk of a running session or target',
        'stop the session (keepWriteback) and apply the kept writeback, or send force: true for a crash-consistent snapshot',
      );
    return this.applyToVersion(id, {
      comment: body.comment,
      publish: body.publish ?? false,
      author,
      mode: wb.state === 'ready' ? 'snapshot' : 'move',
    });
  }

  /**
   * Turns a writeback into a new version of its image. `move` (nothing serves it any more): the file
   * becomes the version file by a rename, no data is copied, and the writeback ends `discarded` with
   * appliedVersionId. `snapshot` (a client still uses it): a reflink clone (or copy) of its current
   * content becomes the version and the writeback stays.
   */
  async applyToVersion(
    id: string,
    opts: { comment: string; publish: boolean; author: string | null; mode: 'move' | 'snapshot' },
  ): Promise<ImageVersion> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('writeback', id);
    if (opts.mode === 'move' && row.state !== 'kept')
      throw conflict(
        'writeback_not_kept',
        `the writeback is ${row.state}; only a kept writeback (its session ended) can be applied as is`,
        'stop its session with keepWriteback, or apply through the session with force for a snapshot',
      );
    if (opts.mode === 'snapshot' && row.state !== 'ready' && row.state !== 'kept')
      throw conflict('writeback_not_ready', `the writeback is ${row.state}`);
    if (!(await this.images.findRow(row.image_id))) throw notFound('image', row.image_id);
    const storage = await this.backends.storageFor(row.backend as StorageBackend);
    if (opts.mode === 'move') {
      // claim it: a concurrent apply or discard loses here
      const claimed = await this.repo.update(id, { state: 'applying' }, { onlyStates: ['kept'] });
      if (!claimed) throw conflict('writeback_busy', 'the writeback is being applied or discarded already');
    }
    const tmp = this.files.applyTempPath(row.image_id, row.id);
    let version: ImageVersion;
    this.applyingNow.add(id);
    try {
      await storage.exportTo(row.path, tmp, opts.mode);
      version = await this.imagesService.addVersionFromFile(row.image_id, tmp, {
        comment: opts.comment,
        author: opts.author,
        parentVersionId: row.version_id,
      });
    } catch (err) {
      await this.files.removeAbsolute(tmp);
      if (opts.mode === 'move') {
        // the file may already have moved: if it still exists, the writeback is kept as it was
        const still = await storage.exists(row.path).catch(() => false);
        await this.repo.update(
          id,
          still
            ? { state: 'kept' }
            : { state: 'discarded', error: (err as Error).message, discarded_at: nowIso() },
        );
      }
      throw err instanceof AppError
        ? err
        : unavailable(
            'apply_failed',
            `could not apply the writeback: ${(err as Error).message}`,
            'see the server log',
          );
    } finally {
      this.applyingNow.delete(id);
    }
    if (opts.mode === 'move') {
      // a backend that copied the data out (qcow2: overlay + master converted) drops the disk now
      if (storage.exportCopies)
        await storage
          .remove(row.path)
          .catch((err) => this.log.warn({ err, writeback: id }, 'applied; the reconciler removes the disk'));
      await this.repo.update(id, {
        state: 'discarded',
        discarded_at: nowIso(),
        applied_version_id: version.id,
      });
      this.bus.publish('writeback.discarded', id, { id, appliedVersionId: version.id });
    }
    if (opts.publish) return this.imagesService.publishVersion(row.image_id, version.id);
    return version;
  }

  /**
   * A writeback left `applying` by a server that stopped mid-apply (the reconciler calls this for rows
   * no apply of this process owns). Nothing the admin made is lost: the file goes back to its place
   * (a `move` had renamed it to images/<id>/.apply-<writeback>-*.raw) and the writeback is `kept`
   * again, to be applied once more. Only when no copy of it is left is it marked discarded.
   */
  async recoverInterruptedApply(id: string): Promise<'kept' | 'discarded' | null> {
    const row = await this.repo.findById(id);
    if (!row || row.state !== 'applying' || this.applyingNow.has(id)) return null;
    const storage = await this.backends.storageFor(row.backend as StorageBackend);
    const leftovers = await this.files.applyLeftovers(row.image_id, row.id);
    let present = row.path ? await storage.exists(row.path) : false;
    if (!present && row.path && storage.kind !== 'zfs' && !storage.exportCopies && leftovers.length > 0) {
      // the newest leftover is the moved file (file backends move by rename, never copy)
      await this.files.renameBack(leftovers.pop()!, storage.blockPath(row.path));
      present = true;
    }
    for (const f of leftovers) await this.files.removeAbsolute(f);
    if (present) {
      await this.repo.update(id, { state: 'kept', error: null }, { onlyStates: ['applying'] });
      this.log.warn({ writeback: id }, 'an interrupted apply was rolled back: the writeback is kept');
    } else {
      await this.repo.update(
        id,
        {
          state: 'discarded',
          discarded_at: nowIso(),
          error: 'the server stopped while applying it and its file is gone',
        },
        { onlyStates: ['applying'] },
      );
      this.log.error({ writeback: id }, 'an interrupted apply left no file behind');
    }
    const after = await this.repo.findById(id);
    if (after) this.bus.publish('writeback.updated', id, toWriteback(after));
    return present ? 'kept' : 'discarded';
  }
}
