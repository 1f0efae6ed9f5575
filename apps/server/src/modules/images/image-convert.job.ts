import { mkdir, open, rename, stat } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import type { Job } from '@ggnet/contracts';
import { formatBytes, SOURCE_FORMATS } from '@ggnet/contracts';
import type { Logger } from 'pino';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import {
  CHECKABLE_FORMATS,
  qemuMessage,
  type QemuImg,
  type QemuImgInfo,
} from '../../adapters/qemu-img/qemu-img.adapter.js';
import { ProcessError } from '../../adapters/process/process-runner.adapter.js';
import { NodeSha256, removeQuietly } from '../../adapters/storage/hashing-writer.js';
import { readRange, syncDir, type ImageFiles } from '../../adapters/storage/image-files.js';
import type { SettingsService } from '../settings/settings.service.js';
import { PermanentJobError, type JobContext, type JobHandler, type JobOutcome } from '../jobs/job-types.js';
import type { ImagesRepository } from './images.repository.js';
import type { ImagesService } from './images.service.js';

export const CONVERT_JOB = 'image.convert';
export const convertKey = (imageId: string) => `${CONVERT_JOB}:${imageId}`;

export interface ConvertPayload {
  imageId: string;
  versionId: string;
}

/** Extensions that name a format: the file must really be in that format. */
const EXT_FORMATS: Record<string, string> = {
  '.vhdx': 'vhdx',
  '.vhd': 'vpc',
  '.vmdk': 'vmdk',
  '.qcow2': 'qcow2',
  '.vdi': 'vdi',
};
const FORMAT_NAMES: Record<string, string> = {
  vhdx: 'VHDX',
  vpc: 'VHD',
  vmdk: 'VMDK',
  qcow2: 'QCOW2',
  vdi: 'VDI',
  raw: 'raw (no recognised image format)',
};
const formatName = (f: string) => FORMAT_NAMES[f] ?? f;
const ALLOWED = new Set<string>(SOURCE_FORMATS);
/** VHDX's limit; anything claiming more is a damaged header. */
export const MAX_VIRTUAL_SIZE = 64 * 1024 ** 4;

const MiB = 1024 * 1024;

/** The input itself is unacceptable: the stored upload is deleted with the failure. */
export class BadInputError extends PermanentJobError {
  constructor(message: string) {
    super(message, 'bad_input');
  }
}

/**
 * Everything GGnet refuses before converting, decided from what qemu-img detected in the content:
 * unknown formats, an extension that names another format, backing/data/extent files (they would
 * read other files of the server), encryption, and headers whose size contradicts the file.
 */
export function vetSource(
  info: QemuImgInfo,
  opts: { path: string; filename: string | null; fileSize: number },
) {
  const ext = opts.filename ? extname(opts.filename).toLowerCase() : '';
  const named = EXT_FORMATS[ext];
  if (named && named !== info.format) {
    throw new BadInputError(
      `the file is named ${ext} (${formatName(named)}) but qemu-img detects ${formatName(info.format)} in it: refusing a file whose content does not match its name`,
    );
  }
  if (!ALLOWED.has(info.format)) {
    throw new BadInputError(
      `qemu-img detects the format ${JSON.stringify(info.format)}, which GGnet does not take (VHDX, VHD, VMDK, QCOW2, VDI or raw)`,
    );
  }
  if (info.backingFile) {
    throw new BadInputError(
      `the image has a backing file (${JSON.stringify(info.backingFile)}): refused, because it would read another file; upload a flattened image (qemu-img convert without -B)`,
    );
  }
  if (info.dataFile) {
    throw new BadInputError(
      `the image uses an external data file (${JSON.stringify(info.dataFile)}): refused`,
    );
  }
  if (info.extents.some((e) => e !== opts.path)) {
    throw new BadInputError(
      'the VMDK points at other files (a descriptor with separate extents): upload a single-file (monolithic) VMDK',
    );
  }
  if (info.encrypted) throw new BadInputError('the image is encrypted: upload a decrypted image');
  if (info.virtualSize <= 0) throw new BadInputError('the image has a virtual size of 0 bytes');
  if (info.virtualSize > MAX_VIRTUAL_SIZE) {
    throw new BadInputError(
      `the image header claims ${formatBytes(info.virtualSize)}, more than 64 TiB: refused`,
    );
  }
  // Container formats map each virtual block once, so the file can exceed the disk only by its
  // metadata and the last partial block. Much more means the header lies about the size (the
  // conversion would silently drop data). qcow2 internal snapshots legitimately hold more.
  if (info.format !== 'raw' && info.snapshots === 0) {
    const slack = 64 * MiB + Math.ceil(info.virtualSize / 100);
    if (opts.fileSize > info.virtualSize + slack) {
      throw new BadInputError(
        `the ${formatName(info.format)} header says the disk is ${formatBytes(info.virtualSize)}, but the file holds ${formatBytes(opts.fileSize)}: the header does not match the content (damaged or edited)`,
      );
    }
  }
}

export interface ConvertTuning {
  /** Size of one conversion window (the RAW is hashed window by window behind the conversion). */
  windowBytes?: number;
  /** qemu-img -m. */
  coroutines?: number;
  /** qemu-img -W. */
  outOfOrder?: boolean;
}

/**
 * Windows of the virtual disk: `windowBytes` each (1 MiB aligned), at most 256 of them, the last
 * one cut in four when it is big, so that the hash still to do after the conversion ends is small.
 */
export function windows(virtualSize: number, windowBytes: number): Array<{ offset: number; length: number }> {
  let size = Math.max(MiB, Math.ceil(windowBytes / MiB) * MiB);
  if (virtualSize / size > 256) size = Math.ceil(virtualSize / 256 / MiB) * MiB;
  const out = [];
  for (let offset = 0; offset < virtualSize; offset += size) {
    out.push({ offset, length: Math.min(size, virtualSize - offset) });
  }
  const last = out.at(-1)!;
  if (last.length >= 256 * MiB) {
    out.pop();
    const quarter = Math.ceil(last.length / 4 / MiB) * MiB;
    for (let o = last.offset; o < last.offset + last.length; o += quarter) {
      out.push({ offset: o, length: Math.min(quarter, last.offset + last.length - o) });
    }
  }
  return out;
}

/** Windows converted but not hashed yet, at most (the page cache holds them meanwhile). */
const HASH_LAG = 2;

/**
 * `image.convert`: the stored upload -> a RAW version. qemu-img info (format from the content,
 * refusals), qemu-img check, then `qemu-img convert -p` in windows of the virtual disk into a
 * sparse `.raw.partial`; each finished window is hashed while the next converts, so the sha256 of
 * the RAW costs almost no extra time. Then fsync, rename to `.raw`, record size + sha256, mark the
 * version ready (and published when it is the image's first). The source is deleted afterwards
 * unless storage.keepSource.
 */
export class ImageConvertJob implements JobHandler {
  readonly type = CONVERT_JOB;

  constructor(
    private readonly deps: {
      repo: ImagesRepository;
      images: ImagesService;
      files: ImageFiles;
      qemu: QemuImg;
      settings: SettingsService;
      bus: EventBus;
      afterReady?: (imageId: string) => Promise<void>;
    },
    private readonly tuning: ConvertTuning = {},
  ) {}

  private payload(job: Job): ConvertPayload {
    const p = job.payload as Partial<ConvertPayload>;
    if (typeof p.imageId !== 'string' || typeof p.versionId !== 'string') {
      throw new PermanentJobError('invalid job payload');
    }
    return { imageId: p.imageId, versionId: p.versionId };
  }

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    const { repo, files, qemu, images } = this.deps;
    const { imageId, versionId } = this.payload(ctx.job);
    const img = await repo.findRow(imageId);
    if (!img) throw new PermanentJobError('the image was deleted', 'image_deleted');
    const ver = await repo.findVersion(imageId, versionId);
    if (!ver) throw new PermanentJobError('the version record of this conversion is gone', 'version_deleted');
    if (ver.state === 'ready') return { versionId, sha256: ver.sha256, sizeBytes: ver.size_bytes };
    if (!img.source_path) throw new PermanentJobError('the uploaded file is gone', 'source_missing');
    const source = files.inside(img.source_path);
    const fileSize = (await stat(source).catch(() => null))?.size;
    if (fileSize === undefined) throw new PermanentJobError('the uploaded file is gone', 'source_missing');

    await repo.update(imageId, { state: 'converting', error: null, updated_at: nowIso() });
    await repo.updateVersion(versionId, { state: 'converting', error: null });
    await images.publish('image.updated', imageId);

    // where the time goes (in the job result and the log): inspect, check, convert, hash, fsync, commit
    const timings = { inspectMs: 0, checkMs: 0, convertMs: 0, hashWaitMs: 0, syncMs: 0, commitMs: 0 };
    let lap = performance.now();
    const took = (k: keyof typeof timings) => {
      const now = performance.now();
      timings[k] += Math.round(now - lap);
      lap = now;
    };

    // 1. what is it? (from the content, never from the name)
    ctx.progress({ stage: 'inspecting', percent: 0 });
    let info: QemuImgInfo;
    try {
      info = await qemu.info(source, { signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      throw new BadInputError(`qemu-img cannot read the file: ${qemuMessage(err)}`);
    }
    vetSource(info, { path: source, filename: img.source_filename, fileSize });
    await repo.update(imageId, { source_format: info.format, updated_at: nowIso() });
    took('inspectMs');

    // 2. is it consistent?
    if (CHECKABLE_FORMATS.has(info.format)) {
      ctx.progress({ stage: 'checking', percent: 0 });
      const check = await qemu.check(source, info.format, { signal: ctx.signal });
      if (check.supported && (check.corruptions > 0 || check.checkErrors > 0)) {
        throw new BadInputError(
          `qemu-img check found ${check.corruptions} corruption(s)${check.checkErrors ? ` and ${check.checkErrors} error(s)` : ''} in the ${formatName(info.format)} file${check.message ? `: ${check.message}` : ''}`,
        );
      }
    }
    took('checkMs');

    // 3. room for the RAW? (sparse: it takes about what the source holds)
    const settings = await this.deps.settings.get();
    const need = Math.min(info.virtualSize, info.actualSize ?? info.virtualSize);
    const free = await files.freeBytes();
    if (free - settings.storage.reserveBytes < need) {
      throw new PermanentJobError(
        `not enough free space to convert: the RAW needs about ${formatBytes(need)}, ${formatBytes(Math.max(0, free))} are free and ${formatBytes(settings.storage.reserveBytes)} are kept in reserve (storage.reserveBytes)`,
        'insufficient_storage',
      );
    }

    // 4. convert window by window into a sparse .partial, hashing each finished window
    const partial = files.partialVersionPath(imageId, versionId);
    await mkdir(dirname(partial), { recursive: true, mode: 0o700 });
    const total = info.virtualSize;
    const hasher = new NodeSha256();
    const fh = await open(partial, 'wx+', 0o600);
    try {
      await fh.truncate(total);
      // the hash runs in order, window after window, behind the conversion
      let hashed: Promise<void> = Promise.resolve();
      const behind: Array<Promise<void>> = [];
      let hashedUpTo = 0;
      const parts = windows(total, this.tuning.windowBytes ?? 1024 * MiB);
      for (const w of parts) {
        ctx.progress({ stage: 'converting', bytesDone: w.offset, bytesTotal: total });
        try {
          await qemu.convert({
            source,
            format: info.format,
            dest: partial,
            window: w,
            coroutines: this.tuning.coroutines ?? 16,
            outOfOrder: this.tuning.outOfOrder ?? true,
            signal: ctx.signal,
            onProgress: (pct) =>
              ctx.progress({
                stage: 'converting',
                bytesDone: w.offset + Math.round((w.length * pct) / 100),
                bytesTotal: total,
              }),
          });
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          const msg = qemuMessage(err);
          if (/No space left on device|Disk quota exceeded/i.test(msg)) {
            throw new PermanentJobError(
              `the disk filled up during the conversion: ${msg}`,
              'insufficient_storage',
            );
          }
          if (err instanceof ProcessError && err.reason === 'exit') {
            throw new PermanentJobError(`qemu-img convert failed: ${msg}`, 'conversion_failed');
          }
          throw err;
        }
        took('convertMs');
        // hash this window while the next ones convert, at most HASH_LAG windows behind
        hashed = hashed
          .then(() => readRange(fh, w.offset, w.length, (b) => hasher.update(b), ctx.signal))
          .then(() => {
            hashedUpTo = w.offset + w.length;
          });
        hashed.catch(() => undefined);
        behind.push(hashed);
        while (behind.length > HASH_LAG) await behind.shift();
        took('hashWaitMs');
      }
      ctx.progress({ stage: 'verifying', bytesDone: total, bytesTotal: total });
      await hashed;
      took('hashWaitMs');
      if (hashedUpTo !== total) throw new Error(`hashed ${hashedUpTo} of ${total} bytes`);
      await fh.sync();
      took('syncMs');
    } finally {
      await fh.close();
    }
    const size = (await stat(partial)).size;
    if (size !== total) throw new Error(`the RAW has ${size} bytes, expected ${total}`);
    const sha256 = hasher.digest();

    // 5. make it real: rename, record, publish if first
    const finalPath = files.inside(files.versionRelPath(imageId, versionId));
    await rename(partial, finalPath);
    await syncDir(dirname(finalPath));
    const keepSource = settings.storage.keepSource;
    const now = nowIso();
    const published = await repo.transaction(async (trx) => {
      const current = await trx
        .selectFrom('images')
        .select(['published_version_id'])
        .where('id', '=', imageId)
        .executeTakeFirst();
      if (!current) return null;
      await repo.updateVersion(
        versionId,
        { state: 'ready', size_bytes: size, sha256, ready_at: now, error: null },
        trx,
      );
      const first = !current.published_version_id;
      await repo.update(
        imageId,
        {
          state: 'ready',
          error: null,
          updated_at: now,
          ...(first ? { published_version_id: versionId } : {}),
          ...(keepSource ? {} : { source_path: null }),
        },
        trx,
      );
      return first;
    });
    if (published === null) {
      await removeQuietly(finalPath);
      throw new PermanentJobError('the image was deleted during the conversion', 'image_deleted');
    }
    if (!keepSource) await removeQuietly(source);
    took('commitMs');
    const v = await images.getVersion(imageId, versionId);
    this.deps.bus.publish('version.updated', versionId, v);
    if (published) this.deps.bus.publish('version.published', versionId, v);
    await images.publish('image.updated', imageId);
    ctx.log.info({ imageId, versionId, size, sha256, format: info.format, timings }, 'image converted');
    await this.deps.afterReady?.(imageId).catch(() => undefined);
    return { versionId, sha256, sizeBytes: size, sourceFormat: info.format, published, timings };
  }

  async cleanup(job: Job): Promise<void> {
    const { imageId, versionId } = this.payload(job);
    const { files, repo } = this.deps;
    await removeQuietly(files.partialVersionPath(imageId, versionId));
    const ver = await repo.findVersion(imageId, versionId);
    if (ver && ver.state !== 'ready')
      await removeQuietly(files.inside(files.versionRelPath(imageId, versionId)));
  }

  async onGiveUp(job: Job, outcome: JobOutcome, error: string, log: Logger, cause?: unknown): Promise<void> {
    const { imageId, versionId } = this.payload(job);
    const { repo, files, images } = this.deps;
    const badInput = cause instanceof BadInputError;
    const img = await repo.findRow(imageId);
    if (!img) return;
    const ver = await repo.findVersion(imageId, versionId);
    if (ver && ver.state !== 'ready') await repo.deleteVersion(versionId);
    const message =
      outcome === 'cancelled'
        ? 'conversion cancelled'
        : outcome === 'dead'
          ? `conversion failed: ${error}`
          : error;
    // a bad file is deleted with the failure; anything else keeps it for POST /images/{id}/convert
    if (badInput && img.source_path) {
      await files.removeFile(img.source_path).catch(() => undefined);
    }
    await repo.update(imageId, {
      state: img.published_version_id ? 'ready' : 'failed',
      error: message,
      updated_at: nowIso(),
      ...(badInput ? { source_path: null } : {}),
    });
    if (ver) this.deps.bus.publish('version.deleted', versionId, { imageId });
    await images.publish('image.updated', imageId);
    log.info({ imageId, outcome, error }, 'image conversion given up');
  }
}
