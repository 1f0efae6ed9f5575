import { searchPositiveInt, searchString } from '../../lib/search-params';

/** The machines page's filters, sort and page, kept in the URL (`/machines?status=pending&page=2`). */
export interface MachinesSearch {
  q?: string;
  status?: string;
  bootMode?: string;
  imageId?: string;
  /** a group's id, or `none` for machines in no group */
  groupId?: string;
  sort?: string;
  page?: number;
}

export const validateMachinesSearch = (s: Record<string, unknown>): MachinesSearch => ({
  q: searchString(s.q),
  status: searchString(s.status),
  bootMode: searchString(s.bootMode),
  imageId: searchString(s.imageId),
  groupId: searchString(s.groupId),
  sort: searchString(s.sort),
  page: searchPositiveInt(s.page),
});
