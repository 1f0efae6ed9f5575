import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';

const MiB = 1024 * 1024;

/**
 * What seeding needs of a GGnet container (`createContainer(...)` from `@ggnet/server` has it): the
 * data dir's image files and the images repository. Structural, so the kit does not depend on the
 * server's build.
 */
export interface SeedHost {
  imageFiles: { versionRelPath(imageId: string, versionId: string): string; inside(rel: string): string };
  repos: {
    images: {
      insert(row: {
        id: string;
        name: string;
        description: string;
        os_type: string;
        state: string;
        error: string | null;
        source_format: string | null;
        source_filename: string | null;
        source_path: string | null;
        source_size: number | null;
        source_sha256: string | null;
        published_version_id: string | null;
        created_by: string | null;
        created_at: string;
        updated_at: string;
      }): Promise<unknown>;
      insertVersion(row: {
        id: string;
        image_id: string;
        number: number;
        state: string;
        comment: string;
        author: string | null;
        size_bytes: number | null;
        sha256: string | null;
        protected: number;
        parent_version_id: string | null;
        path: string | null;
        error: string | null;
        created_at: string;
        ready_at: string | null;
      }): Promise<unknown>;
    };
  };
}

export interface SeedImageOptions {
  /** Virtual size of the raw disk (default 64 MiB). */
  sizeBytes?: number;
  /** Data written in pieces of `chunkBytes` every `everyBytes` (dense when equal; default 1 MiB each). */
  chunkBytes?: number;
  everyBytes?: number;
  /** At most this much data (default: up to the size); the rest is a hole, like a partly filled disk. */
  dataBytes?: number;
  osType?: 'windows' | 'linux';
  /** created_by / author of the rows. */
  by?: string;
}

export interface SeededImage {
  imageId: string;
  versionId: string;
  /** Absolute path of the version's raw file. */
  file: string;
  sizeBytes: number;
  /** Bytes of data written (the rest are holes). */
  dataBytes: number;
}

/**
 * An image with one ready, published version: a sparse raw file with data laid out as asked (the
 * layout decides how many extents a clone walks), and its rows, written straight to the database.
 */
export async function seedImage(
  host: SeedHost,
  name: string,
  o: SeedImageOptions = {},
): Promise<SeededImage> {
  const sizeBytes = o.sizeBytes ?? 64 * MiB;
  const chunkBytes = o.chunkBytes ?? MiB;
  const everyBytes = o.everyBytes ?? chunkBytes;
  const limit = o.dataBytes ?? sizeBytes;
  const imageId = randomUUID();
  const versionId = randomUUID();
  const rel = host.imageFiles.versionRelPath(imageId, versionId);
  const file = host.imageFiles.inside(rel);
  await mkdir(dirname(file), { recursive: true });
  const fh = await open(file, 'w');
  let dataBytes = 0;
  try {
    const chunk = randomBytes(chunkBytes);
    for (let off = 0; off + chunkBytes <= sizeBytes && dataBytes + chunkBytes <= limit; off += everyBytes) {
      // every piece differs, so no filesystem dedups them
      chunk.writeUInt32LE(Math.floor(off / MiB) % 2 ** 32, 0);
      await fh.write(chunk, 0, chunkBytes, off);
      dataBytes += chunkBytes;
    }
    await fh.truncate(sizeBytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const now = new Date().toISOString();
  const by = o.by ?? 'test';
  await host.repos.images.insert({
    id: imageId,
    name,
    description: '',
    os_type: o.osType ?? 'linux',
    state: 'ready',
    error: null,
    source_format: 'raw',
    source_filename: null,
    source_path: null,
    source_size: sizeBytes,
    source_sha256: null,
    published_version_id: versionId,
    created_by: by,
    created_at: now,
    updated_at: now,
  });
  await host.repos.images.insertVersion({
    id: versionId,
    image_id: imageId,
    number: 1,
    state: 'ready',
    comment: `seeded by ${by}`,
    author: by,
    size_bytes: sizeBytes,
    sha256: null,
    protected: 0,
    parent_version_id: null,
    path: rel,
    error: null,
    created_at: now,
    ready_at: now,
  });
  return { imageId, versionId, file, sizeBytes, dataBytes };
}

/** What seeding machines needs of a container: its machines service. */
export interface MachineSeedHost {
  machines: {
    create(input: { name: string; mac: string; bootImageId?: string | null; tags?: string[] }): Promise<{
      id: string;
    }>;
  };
}

/**
 * `count` machines named `<prefix>-0000`... with MACs 52:54:00:aa:xx:yy (distinct for up to 65,536),
 * through the machines service (its checks and events, as the API would).
 */
export async function seedMachines(
  host: MachineSeedHost,
  count: number,
  o: { prefix?: string; bootImageId?: string | null; tags?: (i: number) => string[] } = {},
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const hex = i.toString(16).padStart(4, '0');
    const m = await host.machines.create({
      name: `${o.prefix ?? 'pc'}-${String(i).padStart(4, '0')}`,
      mac: `52:54:00:aa:${hex.slice(0, 2)}:${hex.slice(2)}`,
      bootImageId: o.bootImageId ?? null,
      tags: o.tags?.(i) ?? [],
    });
    ids.push(m.id);
  }
  return ids;
}
