import { searchFlag, searchString } from '../../lib/search-params';

/** `/sessions` shows the live sessions; `/sessions?all=true` the recent ones, ended too. */
export interface SessionsSearch {
  all?: boolean;
  /** a group's id, or `none`: sessions of the machines in it */
  groupId?: string;
}

export const validateSessionsSearch = (s: Record<string, unknown>): SessionsSearch => ({
  all: searchFlag(s.all),
  groupId: searchString(s.groupId),
});
