import { useSyncExternalStore } from 'react';
import type { Role } from '@ggnet/contracts';
import { hasRole } from '../lib/roles';
import { auth } from './client';

const subscribe = (fn: () => void) => auth.subscribe(fn);
const snapshot = () => auth.get();

/** The current login (null when logged out); re-renders on login, refresh and logout. */
export function useAuth() {
  return useSyncExternalStore(subscribe, snapshot);
}

/** True when the logged-in user has at least `role`: decides which buttons a page shows. */
export function useCan(role: Role): boolean {
  const s = useAuth();
  return hasRole(s?.user.role, role);
}
