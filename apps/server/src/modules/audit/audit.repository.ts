import type { Insertable, Kysely, Selectable } from 'kysely';
import { parseSort, type AuditEntry, type AuditListQuery, type Page } from '@ggnet/contracts';
import type { AuditLogTable, DB } from '../../db/schema.js';
import { escapeLike, likeEscaped } from '../../db/database.js';

export type AuditRow = Selectable<AuditLogTable>;

export const toAudit = (r: AuditRow): AuditEntry => ({
  id: Number(r.id),
  at: r.at,
  userId: r.user_id,
  username: r.username,
  action: r.action,
  method: r.method,
  path: r.path,
  targetType: r.target_type,
  targetId: r.target_id,
  statusCode: r.status_code,
  ip: r.ip,
});

export class AuditRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async insert(row: Insertable<AuditLogTable>): Promise<void> {
    await this.db.insertInto('audit_log').values(row).execute();
  }

  async list(q: AuditListQuery): Promise<Page<AuditRow>> {
    let query = this.db.selectFrom('audit_log');
    if (q.username) query = query.where('username', '=', q.username);
    if (q.action) query = query.where(likeEscaped('action', `${escapeLike(q.action)}%`));
    if (q.targetType) query = query.where('target_type', '=', q.targetType);
    if (q.since) query = query.where('at', '>=', q.since);
    if (q.q) {
      const t = `%${escapeLike(q.q)}%`;
      query = query.where((eb) =>
        eb.or([likeEscaped('path', t), likeEscaped('target_id', t), likeEscaped('action', t)]),
      );
    }
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const asc = parseSort(q.sort, '-at').desc === false;
    const items = await query
      .selectAll()
      .orderBy('id', asc ? 'asc' : 'desc')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items, total: Number(total.n) };
  }
}
