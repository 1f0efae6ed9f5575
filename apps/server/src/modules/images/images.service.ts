import type {
  Image,
  ImageCreate,
  ImageListQuery,
  ImageUpdate,
  ImageVersion,
  Page,
  VersionUpdate,
} from '@ggnet/contracts';
import { ImageCreate as ImageCreateSchema } from '@ggnet/contracts';
import { conflict, insufficientStorage, notFound } from '../../errors/app-error.js';
import { formatBytes } from '@ggnet/contracts';
import { isUniqueViolation, nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import type { ImageFiles } from '../../adapters/storage/image-files.js';
import { toImage, toVersion, type ImagesRepository, type ImageRow } from './images.repository.js';

const nameTaken = (name: string) =>
  conflict(
    'image_name_taken',
    `an image named ${JSON.stringify(name)} already exists`,
    'choose another name, or upload a new version of that image',
  );

export class ImagesService {
  private readonly deleteHooks: Array<(imageId: string) => Promise<void>> = [];
  private readonly versionFileHooks: Array<(imageId: string, versionId: string) => Promise<void>> = [];

  constructor(
    private readonly repo: ImagesRepository,
    private readonly files: ImageFiles,
    private readonly bus: EventBus,
  ) {}

  /**
   * Work that must stop before an image is deleted (a conversion job is cancelled and awaited, an
   * upload in progress is discarded). A hook may refuse with an AppError.
   */
  onBeforeDelete(hook: (imageId: string) => Promise<void>): void {
    this.deleteHooks.push(hook);
  }

  /** Called when a version's file is in place without a sha256 yet (the checksum job is queued here). */
  onVersionFile(hook: (imageId: string, versionId: string) => Promise<void>): void {
    this.versionFileHooks.push(hook);
  }

  async list(q: ImageListQuery): Promise<Page<Image>> {
    const page = await this.repo.list(q);
    return { items: page.items.map(toImage), total: page.total };
  }

  async get(id: string): Promise<Image> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('image', id);
    return toImage(row);
  }

  /**
   * Creates the image record; its content arrives by upload or import (state `uploading`). With
   * `sizeBytes`, a blank image instead: version 1 is an empty sparse RAW disk of that size (whole
   * MiB), ready and published at once (instant, whatever the size), to install an OS onto.
   */
  async create(input: ImageCreate, by: string | null, extra: Partial<ImageRow> = {}): Promise<Image> {
    const d = ImageCreateSchema.parse(input);
    if (d.sizeBytes !== undefined) return this.createBlank(d, d.sizeBytes, by);
    const now = nowIso();
    const row: ImageRow = {
      id: newId(),
      name: d.name,
      description: d.description ?? '',
      os_type: d.osType,
      state: 'uploading',
      error: null,
      source_format: null,
      source_filename: null,
      source_size: null,
      source_sha256: null,
      published_version_id: null,
      uefi_boot_file: null,
      created_by: by,
      created_at: now,
      updated_at: now,
      source_path: null,
      ...extra,
    };
    try {
      await this.repo.insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(d.name);
      throw err;
    }
    return this.publish('image.created', row.id);
  }

  private async createBlank(d: ImageCreate, sizeBytes: number, by: string | null): Promise<Image> {
    const MiB = 1024 ** 2;
    const size = Math.ceil(sizeBytes / MiB) * MiB;
    const free = await this.files.freeBytes();
    if (free < 64 * MiB) {
      throw insufficientStorage(
        `only ${formatBytes(free)} free in the data directory`,
        'a blank image takes no space until something is written to it, but the disk is full: free space first',
      );
    }
    const img = await this.create({ name: d.name, description: d.description, osType: d.osType }, by, {
      state: 'converting',
      source_format: 'raw',
      source_filename: null,
      source_size: size,
    });
    const versionId = await this.createPendingVersion(img.id, {
      comment: `blank disk of ${formatBytes(size)}`,
      author: by,
      parentVersionId: null,
    });
    try {
      await this.files.createBlankVersion(img.id, versionId, size);
    } catch (err) {
      await this.repo.updateVersion(versionId, { state: 'failed', error: (err as Error).message });
      await this.repo.update(img.id, {
        state: 'failed',
        error: (err as Error).message,
        updated_at: nowIso(),
      });
      throw err;
    }
    const now = nowIso();
    await this.repo.updateVersion(versionId, { state: 'ready', size_bytes: size, ready_at: now });
    await this.repo.update(img.id, { state: 'ready', published_version_id: versionId, updated_at: now });
    // no checksum job: the version is all zeros, and hashing terabytes of holes is hours of CPU
    this.bus.publish('version.created', versionId, await this.getVersion(img.id, versionId));
    return this.publish('image.updated', img.id);
  }

  async update(id: string, patch: ImageUpdate): Promise<Image> {
    if (!(await this.repo.findRow(id))) throw notFound('image', id);
    const changes: Partial<ImageRow> = { updated_at: nowIso() };
    if (patch.name !== undefined) changes.name = patch.name;
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.osType !== undefined) changes.os_type = patch.osType;
    if (patch.uefiBootFile !== undefined) changes.uefi_boot_file = patch.uefiBootFile;
    try {
      await this.repo.update(id, changes);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(patch.name ?? '');
      throw err;
    }
    return this.publish('image.updated', id);
  }

  async delete(id: string): Promise<void> {
    const row = await this.repo.findRow(id);
    if (!row) throw notFound('image', id);
    const inUse = await this.repo.versionsInUse(id);
    if (inUse.size) {
      throw conflict(
        'image_in_use',
        'a running session or a kept writeback still uses this image',
        'stop those sessions and discard their writebacks first',
      );
    }
    // machines that name it, and groups that give it to theirs (deleting it would silently move the
    // group's machines to the default image): one 409 that names both
    const users = await this.repo.machinesUsing(id);
    const groups = await this.repo.groupsUsing(id);
    if (users.length || groups.length) {
      const names = (list: Array<{ name: string }>) =>
        `${list
          .slice(0, 5)
          .map((x) => x.name)
          .join(', ')}${list.length > 5 ? ', ...' : ''}`;
      throw conflict(
        'image_assigned',
        [
          users.length ? `${users.length} machine(s) boot this image (${names(users)})` : '',
          groups.length
            ? `${groups.length} group(s) give this image to their machines (${names(groups)})`
            : '',
        ]
          .filter(Boolean)
          .join('; '),
        `assign another image to those ${[users.length ? 'machines' : '', groups.length ? 'groups' : '']
          .filter(Boolean)
          .join(' and ')} first`,
      );
    }
    for (const hook of this.deleteHooks) await hook(id);
    await this.repo.delete(id);
    await this.files.removeImage(id);
    this.bus.publish('image.deleted', id, null);
  }

  /**
   * The record an upload made for itself, when the upload turned out not to be an image (an ISO
   * became an install medium): it has no versions and no files of its own left.
   */
  async dropUploadRecord(id: string): Promise<void> {
    await this.repo.delete(id);
    await this.files.removeImage(id);
    this.bus.publish('image.deleted', id, null);
  }

  async publish(type: string, id: string): Promise<Image> {
    const img = await this.get(id);
    this.bus.publish(type, id, img);
    return img;
  }

  // ---- versions ----------------------------------------------------------------

  /** A version record that a conversion will fill (state pending); returns its id. */
  async createPendingVersion(
    imageId: string,
    opts: { comment: string; author: string | null; parentVersionId: string | null },
  ): Promise<string> {
    const id = newId();
    const rel = this.files.versionRelPath(imageId, id);
    // the number is taken inside a transaction with the insert (unique (image_id, number) guards races)
    await this.repo.transaction(async (trx) => {
      const number = await this.repo.nextVersionNumber(imageId, trx);
      await this.repo.insertVersion(
        {
          id,
          image_id: imageId,
          number,
          state: 'pending',
          comment: opts.comment,
          author: opts.author,
          size_bytes: null,
          sha256: null,
          protected: 0,
          parent_version_id: opts.parentVersionId,
          path: rel,
          error: null,
          created_at: nowIso(),
          ready_at: null,
        },
        trx,
      );
    });
    return id;
  }

  /**
   * Makes a new ready version of an image from a raw file that already exists on this filesystem
   * (an applied writeback, a converted upload). The file is moved (rename, same filesystem) into
   * images/<imageId>/versions/<versionId>.raw, fsynced, hashed, and only then marked ready.
   */
  async addVersionFromFile(
    imageId: string,
    sourcePath: string,
    opts: { comment: string; author: string | null; parentVersionId: string | null },
  ): Promise<ImageVersion> {
    const img = await this.repo.findRow(imageId);
    if (!img) throw notFound('image', imageId);
    const id = await this.createPendingVersion(imageId, opts);
    const rel = this.files.versionRelPath(imageId, id);
    try {
      const { size } = await this.files.adoptFile(sourcePath, rel);
      await this.repo.updateVersion(id, { state: 'ready', size_bytes: size, ready_at: nowIso() });
    } catch (err) {
      await this.repo.updateVersion(id, { state: 'failed', error: (err as Error).message });
      throw err;
    }
    // hashing hundreds of GiB takes minutes: not in the request (see image-checksum.job.ts)
    for (const hook of this.versionFileHooks) await hook(imageId, id);
    const v = await this.getVersion(imageId, id);
    this.bus.publish('version.created', id, v);
    await this.publish('image.updated', imageId);
    return v;
  }

  async listVersions(imageId: string): Promise<ImageVersion[]> {
    const img = await this.repo.findRow(imageId);
    if (!img) throw notFound('image', imageId);
    const [rows, inUse] = await Promise.all([
      this.repo.listVersions(imageId),
      this.repo.versionsInUse(imageId),
    ]);
    return Promise.all(
      rows.map(async (r) =>
        toVersion(
          r,
          img.published_version_id,
          inUse.has(r.id),
          r.path ? await this.files.allocatedBytes(r.path) : null,
        ),
      ),
    );
  }

  async getVersion(imageId: string, versionId: string): Promise<ImageVersion> {
    const img = await this.repo.findRow(imageId);
    if (!img) throw notFound('image', imageId);
    const r = await this.repo.findVersion(imageId, versionId);
    if (!r) throw notFound('version', versionId);
    const inUse = await this.repo.versionsInUse(imageId);
    return toVersion(
      r,
      img.published_version_id,
      inUse.has(r.id),
      r.path ? await this.files.allocatedBytes(r.path) : null,
    );
  }

  async updateVersion(imageId: string, versionId: string, patch: VersionUpdate): Promise<ImageVersion> {
    await this.getVersion(imageId, versionId);
    await this.repo.updateVersion(versionId, {
      ...(patch.comment !== undefined ? { comment: patch.comment } : {}),
      ...(patch.protected !== undefined ? { protected: patch.protected ? 1 : 0 } : {}),
    });
    const v = await this.getVersion(imageId, versionId);
    this.bus.publish('version.updated', versionId, v);
    return v;
  }

  /** Instant: only the pointer moves. Machines booting after this get the new version; running ones keep theirs. */
  async publishVersion(imageId: string, versionId: string): Promise<ImageVersion> {
    const v = await this.getVersion(imageId, versionId);
    if (v.state !== 'ready') {
      throw conflict(
        'version_not_ready',
        `version ${v.number} is ${v.state}, not ready`,
        'wait for its conversion to finish',
      );
    }
    await this.repo.update(imageId, { published_version_id: versionId, updated_at: nowIso() });
    const out = await this.getVersion(imageId, versionId);
    this.bus.publish('version.published', versionId, out);
    await this.publish('image.updated', imageId);
    return out;
  }

  async deleteVersion(imageId: string, versionId: string): Promise<void> {
    const v = await this.getVersion(imageId, versionId);
    if (v.published)
      throw conflict(
        'version_published',
        `version ${v.number} is the published version`,
        'publish another version first',
      );
    if (v.inUse)
      throw conflict(
        'version_in_use',
        `version ${v.number} is used by a running session or a kept writeback`,
        'stop the session or discard the writeback first',
      );
    if ((await this.repo.versionsPinned(imageId)).has(versionId))
      throw conflict(
        'version_released',
        `version ${v.number} is released to a group (a ring)`,
        'promote or roll back the ring first (POST /api/v1/images/{id}/release/promote or /rollback)',
      );
    if (v.state === 'converting' || v.state === 'pending')
      throw conflict(
        'version_busy',
        `version ${v.number} is being converted`,
        'cancel its job (or delete the whole image) first',
      );
    const row = await this.repo.findVersion(imageId, versionId);
    await this.repo.deleteVersion(versionId);
    if (row?.path) await this.files.removeFile(row.path);
    this.bus.publish('version.deleted', versionId, { imageId });
    await this.publish('image.updated', imageId);
  }
}
