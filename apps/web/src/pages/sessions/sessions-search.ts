import { searchFlag } from '../../lib/search-params';

/** `/sessions` shows the live sessions; `/sessions?all=true` the recent ones, ended too. */
export interface SessionsSearch {
  all?: boolean;
}

export const validateSessionsSearch = (s: Record<string, unknown>): SessionsSearch => ({
  all: searchFlag(s.all),
});
