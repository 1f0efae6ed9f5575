import { basename, extname } from 'node:path';
import { ImageName, ImageUploadMetadata } from '@ggnet/contracts';
import { fileInRoot } from '../../adapters/storage/intake-files.js';
import { AppError, badRequest } from '../../errors/app-error.js';

// What an upload or import says about its file: tus Upload-Metadata, file names, import paths.

/** Only for display and the format check: the last path component, at most 255 characters. */
export const displayFilename = (name: string) =>
  basename(name.replaceAll('\\', '/'))
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .slice(-255) || 'upload';

/** The file name without its extension, with characters an image name cannot have replaced by `-`. */
export const fileStem = (filename: string) =>
  basename(filename, extname(filename)).replace(/[^\p{L}\p{N} ._()+-]/gu, '-');

/** Parses tus Upload-Metadata (`key base64,key base64`); every error names the key. */
export function parseTusMetadata(header: string | undefined): ImageUploadMetadata {
  const out: Record<string, string> = {};
  for (const pair of (header ?? '').split(',')) {
    const [key, value, extra] = pair.trim().split(' ');
    if (!key) continue;
    if (extra !== undefined || !/^[A-Za-z0-9_-]+$/.test(key)) {
      throw badRequest(
        'invalid_metadata',
        'Upload-Metadata is malformed',
        'send `key base64value` pairs separated by commas',
      );
    }
    out[key] = value ? Buffer.from(value, 'base64').toString('utf8') : '';
  }
  if (!out.name && out.filename) {
    // a sensible default: the file name without its extension, made a valid image name
    const parsed = ImageName.safeParse(fileStem(out.filename).replace(/^[^\p{L}\p{N}]+/u, ''));
    if (parsed.success) out.name = parsed.data;
  }
  const r = ImageUploadMetadata.safeParse(out);
  if (!r.success) {
    const errors = r.error.issues.map((i) => ({
      path: `metadata.${i.path.join('.')}`,
      message: i.message,
    }));
    throw badRequest(
      'invalid_metadata',
      `invalid upload metadata: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      'send metadata name (the image name) and filename, optionally sha256, osType, description',
      errors,
    );
  }
  return r.data;
}

/** Resolves a path for import: inside the import dir, also after following symlinks; a regular file. */
export async function resolveImportPath(
  importDir: string,
  path: string,
): Promise<{ real: string; size: number }> {
  const r = await fileInRoot(importDir, path);
  if (r.ok) return r;
  switch (r.reason) {
    case 'root_missing':
      throw badRequest(
        'import_dir_missing',
        `the import directory ${importDir} does not exist`,
        'create it (GGNET_IMPORT_DIR) and put the file there',
      );
    case 'outside':
      throw badRequest(
        'path_outside_import_dir',
        `${JSON.stringify(path)} is not inside the import directory ${importDir}`,
        'copy the file into the import directory (symbolic links pointing outside it are refused)',
      );
    case 'not_found':
      throw new AppError(
        404,
        'file_not_found',
        `${JSON.stringify(path)} does not exist in the import directory`,
        {
          hint: `list ${importDir} to find the file`,
        },
      );
    case 'not_a_file':
      throw badRequest('not_a_file', `${JSON.stringify(path)} is not a regular file`, 'import an image file');
  }
}
