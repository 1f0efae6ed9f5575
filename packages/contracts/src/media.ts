import { z } from 'zod';
import { Id, ListQuery, Timestamp, sortBy } from './common.js';

/**
 * Install media: ISO files uploaded through the same tus path as images, recognised as ISO 9660 by
 * their content, stored as they are (never converted, never booted as a disk). A machine in
 * maintenance mode with an install medium boots it over HTTP with its writeback hooked as the
 * first hard disk, so that an installer installs onto the network disk (install mode).
 */
export const Media = z.object({
  id: Id,
  name: z.string(),
  /** The uploaded file's name (display only). */
  filename: z.string().nullable(),
  sizeBytes: z.number(),
  sha256: z.string(),
  /** Machines whose install mode boots this medium. */
  machineCount: z.number().int(),
  createdBy: z.string().nullable(),
  createdAt: Timestamp,
});
export type Media = z.infer<typeof Media>;

export const MEDIA_SORT_FIELDS = ['name', 'createdAt', 'sizeBytes'] as const;
export const MediaListQuery = ListQuery.extend({ sort: sortBy(MEDIA_SORT_FIELDS) });
export type MediaListQuery = z.infer<typeof MediaListQuery>;
