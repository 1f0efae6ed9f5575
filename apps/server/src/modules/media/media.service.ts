import type { Media, MediaListQuery, Page } from '@ggnet/contracts';
import { conflict, notFound } from '../../errors/app-error.js';
import { isUniqueViolation, nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import { toMedia, type MediaRepository } from './media.repository.js';

/** An ISO that a boot may read: its absolute path and size. */
export interface ServableMedia {
  id: string;
  path: string;
  size: number;
}

/**
 * Install media: ISO files taken in by the upload paths (recognised by content), listed, deleted
 * (not while a machine's install mode uses one), and read by the machine that installs from one.
 */
export class MediaService {
  constructor(
    private readonly repo: MediaRepository,
    private readonly files: ImageFiles,
    private readonly bus: EventBus,
  ) {}

  async list(q: MediaListQuery): Promise<Page<Media>> {
    const page = await this.repo.list(q);
    return { items: page.items.map(toMedia), total: page.total };
  }

  async get(id: string): Promise<Media> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('media', id);
    return toMedia(row);
  }

  async exists(id: string): Promise<boolean> {
    return !!(await this.repo.findById(id));
  }

  /**
   * A finished upload that is an ISO: the file moves (fsync + rename, same filesystem) to
   * media/<id>.iso and becomes a medium with the upload's id. A medium of the same name gets the
   * name with a suffix rather than losing the upload.
   */
  async adopt(
    id: string,
    stagingPath: string,
    o: { name: string; filename: string | null; size: number; sha256: string; by: string | null },
  ): Promise<Media> {
    const rel = this.files.mediaRelPath(id);
    await this.files.moveInto(stagingPath, rel);
    for (let n = 1; ; n++) {
      const name = n === 1 ? o.name : `${o.name}-${n}`;
      try {
        await this.repo.insert({
          id,
          name,
          filename: o.filename,
          size_bytes: o.size,
          sha256: o.sha256,
          path: rel,
          created_by: o.by,
          created_at: nowIso(),
        });
        break;
      } catch (err) {
        if (!isUniqueViolation(err) || n >= 50) {
          await this.files.removeFile(rel);
          throw err;
        }
      }
    }
    const media = await this.get(id);
    this.bus.publish('media.created', id, media);
    return media;
  }

  async delete(id: string): Promise<void> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('media', id);
    const users = await this.repo.machinesUsing(id);
    if (users.length) {
      throw conflict(
        'media_in_use',
        `${users.length} machine(s) install from this medium (${users
          .slice(0, 5)
          .map((m) => m.name)
          .join(', ')}${users.length > 5 ? ', ...' : ''})`,
        'end their install mode first (installMediaId: null, or leave maintenance mode)',
      );
    }
    await this.repo.delete(id);
    await this.files.removeFile(row.path);
    this.bus.publish('media.deleted', id, null);
  }

  /**
   * The ISO for `GET /boot/media/{id}`: only for the machine booting from `clientIp` right now in
   * install mode with this medium (anyone else: not found, at the cost of one indexed query).
   */
  async servable(id: string, clientIp: string): Promise<ServableMedia | null> {
    const row = await this.repo.servableTo(id, clientIp);
    if (!row) return null;
    return { id: row.id, path: this.files.inside(row.path), size: Number(row.size_bytes) };
  }
}
