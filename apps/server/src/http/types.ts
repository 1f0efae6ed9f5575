import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Role } from '@ggnet/contracts';
import type { AuthUser } from '../modules/auth/auth.service.js';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** Who may call a route: `public` (no token), or the lowest role allowed. */
export type Access = Role | 'public';

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser | null;
    /** Set by handlers whose audit target is not `params.id` (e.g. the id of what they created). */
    auditTarget: { type: string; id: string } | null;
  }
  interface FastifyContextConfig {
    /** Required on every /api/v1 route (checked when routes are registered). */
    access?: Access;
    /** Audit action name, e.g. `machine.create`; false for mutating routes that audit themselves. */
    audit?: string | false;
    /** Kind of object the route acts on (`machine`), for the audit log. */
    targetType?: string;
    /** The handler streams a large body itself (uploads): no deadline for the whole body. */
    streamsBody?: boolean;
  }
}
