import { z } from 'zod';
import { Id, ListQuery, Timestamp, sortBy } from './common.js';
import { OS_TYPES } from './plain.js';
import { FreeText, ImageName } from './names.js';

export const IMAGE_STATES = ['uploading', 'uploaded', 'converting', 'ready', 'failed'] as const;
export const ImageState = z.enum(IMAGE_STATES);
export type ImageState = z.infer<typeof ImageState>;

export const OsType = z.enum(OS_TYPES);

/** Formats GGnet takes in; everything is converted to raw. */
export const SOURCE_FORMATS = ['vhdx', 'vpc', 'vmdk', 'qcow2', 'vdi', 'raw'] as const;
export const SourceFormat = z.enum(SOURCE_FORMATS);

export const Image = z.object({
  id: Id,
  name: z.string(),
  description: z.string(),
  osType: OsType,
  state: ImageState,
  error: z.string().nullable(),
  sourceFormat: z.string().nullable(),
  sourceFilename: z.string().nullable(),
  sourceSize: z.number().nullable(),
  sourceSha256: z.string().nullable(),
  publishedVersionId: Id.nullable(),
  /**
   * The bootloader iPXE's UEFI `sanboot` starts on the disk (`--filename`), e.g.
   * `\\EFI\\Microsoft\\Boot\\bootmgfw.efi`; null = iPXE's default `\\EFI\\BOOT\\BOOTX64.EFI`. BIOS boots ignore it.
   */
  uefiBootFile: z.string().nullable(),
  versionCount: z.number().int(),
  /** Bytes of every version file of the image. */
  sizeBytes: z.number(),
  /** Machines that boot this image (or have it as an extra disk). */
  machineCount: z.number().int(),
  createdBy: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Image = z.infer<typeof Image>;

/** Smallest and largest blank image (`POST /api/v1/images` with `sizeBytes`). */
export const BLANK_IMAGE_MIN_BYTES = 64 * 1024 ** 2;
export const BLANK_IMAGE_MAX_BYTES = 64 * 1024 ** 4;

export const ImageCreate = z.strictObject({
  name: ImageName,
  description: FreeText(1000).optional(),
  osType: OsType.default('windows'),
  /**
   * A blank image: its first version is an empty (sparse) RAW disk of this size, ready and published
   * at once, to install an OS onto (install mode). Rounded up to whole MiB. Without it the image
   * waits for an upload.
   */
  sizeBytes: z
    .number()
    .int()
    .min(BLANK_IMAGE_MIN_BYTES, 'a blank image needs at least 64 MiB')
    .max(BLANK_IMAGE_MAX_BYTES, 'a blank image is at most 64 TiB')
    .optional(),
});
export type ImageCreate = z.input<typeof ImageCreate>;

/** A UEFI file path on the image's EFI system partition: backslash-separated, ending in .efi. */
export const UEFI_BOOT_FILE_RE = /^(\\[A-Za-z0-9._-]{1,64}){1,8}$/;
export const UefiBootFile = z
  .string()
  .max(255)
  .regex(
    UEFI_BOOT_FILE_RE,
    'a path such as \\EFI\\Microsoft\\Boot\\bootmgfw.efi (backslashes, letters, digits, . _ -)',
  )
  .refine((p) => /\.efi$/i.test(p), 'must name a .efi file');

export const ImageUpdate = z.strictObject({
  name: ImageName.optional(),
  description: FreeText(1000).optional(),
  osType: OsType.optional(),
  /** null = iPXE's default bootloader path. */
  uefiBootFile: UefiBootFile.nullable().optional(),
});
export type ImageUpdate = z.infer<typeof ImageUpdate>;

export const IMAGE_SORT_FIELDS = ['name', 'state', 'createdAt', 'updatedAt'] as const;
export const ImageListQuery = ListQuery.extend({
  sort: sortBy(IMAGE_SORT_FIELDS),
  state: ImageState.optional(),
});
export type ImageListQuery = z.infer<typeof ImageListQuery>;

export const VERSION_STATES = ['pending', 'converting', 'ready', 'failed'] as const;
export const VersionState = z.enum(VERSION_STATES);

export const ImageVersion = z.object({
  id: Id,
  imageId: Id,
  number: z.number().int(),
  state: VersionState,
  comment: z.string(),
  author: z.string().nullable(),
  sizeBytes: z.number().nullable(),
  /** Bytes actually allocated on disk (raw files are sparse). */
  allocatedBytes: z.number().nullable(),
  sha256: z.string().nullable(),
  protected: z.boolean(),
  published: z.boolean(),
  inUse: z.boolean(),
  parentVersionId: Id.nullable(),
  createdAt: Timestamp,
  readyAt: Timestamp.nullable(),
});
export type ImageVersion = z.infer<typeof ImageVersion>;

export const VersionParams = z.object({ id: Id, versionId: Id });
export const VersionUpdate = z.strictObject({
  comment: FreeText(1000).optional(),
  protected: z.boolean().optional(),
});
export type VersionUpdate = z.infer<typeof VersionUpdate>;

export const ImageImportRequest = z.strictObject({
  /** Absolute path inside the configured import directory. */
  path: z.string().min(1).max(4096),
  name: ImageName.optional(),
  osType: OsType.optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/i)
    .optional(),
});
export type ImageImportRequest = z.infer<typeof ImageImportRequest>;

export const Sha256Hex = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[0-9a-f]{64}$/, 'must be a sha256 as 64 hex digits');

/** A client's file name: kept as text for display and the format check, never used as a path. */
export const ClientFilename = z
  .string()
  .min(1)
  .max(255)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

/** tus `Upload-Metadata` of POST /api/v1/uploads (values base64 in the header, as tus wants). */
export const ImageUploadMetadata = z.object({
  name: ImageName,
  filename: ClientFilename,
  /** Expected sha256 of the file: a mismatch rejects the upload and removes its bytes. */
  sha256: Sha256Hex.optional(),
  osType: OsType.optional(),
  description: FreeText(1000).optional(),
});
export type ImageUploadMetadata = z.infer<typeof ImageUploadMetadata>;

/** Query of `PUT /api/v1/images/{id}/content` (plain streaming upload, e.g. `curl -T`). */
export const ImageContentQuery = z.strictObject({
  filename: ClientFilename.optional(),
  sha256: Sha256Hex.optional(),
});
export type ImageContentQuery = z.infer<typeof ImageContentQuery>;

/** Answer of an import or a conversion retry: the image and the job that works on it. */
export const ImageJobResult = z.object({
  image: Image,
  jobId: Id,
});
export type ImageJobResult = z.infer<typeof ImageJobResult>;
