import type { Role } from '@ggnet/contracts';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when `role` has at least the rights of `needed` (admin > operator > viewer). */
export function hasRole(role: Role | null | undefined, needed: Role): boolean {
  return !!role && RANK[role] >= RANK[needed];
}
