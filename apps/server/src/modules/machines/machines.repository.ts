import {
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SqlBool,
} from 'kysely';
import {
  parseSort,
  type BootMode,
  type EffectiveSettings,
  type Machine,
  type MachineListQuery,
  type MACHINE_SORT_FIELDS,
  type MachineStatus,
  type Page,
} from '@ggnet/contracts';
import { containsInsensitive, escapeLike, likeEscaped } from '../../db/database.js';
import type { DB, MachinesTable } from '../../db/schema.js';
import { parseJson } from '../../lib/json.js';

export type MachineRow = Selectable<MachinesTable>;
export type MachineRowWithSession = MachineRow & { session_id: string | null; session_state: string | null };

export function machineStatus(r: MachineRowWithSession): MachineStatus {
  if (r.pending) return 'pending';
  if (!r.enabled) return 'disabled';
  if (r.session_state === 'active') return 'online';
  if (r.session_state === 'starting' || r.session_state === 'ready') return 'booting';
  return 'offline';
}

const flag = (v: number | null): boolean | null => (v === null ? null : v === 1);

/** The API shape of a machine; `effective` comes from the EffectiveResolver (groups module). */
export const toMachine = (r: MachineRowWithSession, effective: EffectiveSettings): Machine => ({
  id: r.id,
  name: r.name,
  mac: r.mac,
  ip: r.ip,
  description: r.description,
  enabled: r.enabled === 1,
  pending: r.pending === 1,
  groupId: r.group_id,
  bootImageId: r.boot_image_id,
  extraImageIds: r.extra_image_ids === null ? null : parseJson<string[]>(r.extra_image_ids, []),
  keepWriteback: flag(r.keep_writeback),
  bootMode: r.boot_mode as BootMode | null,
  bootMenu: flag(r.boot_menu),
  effective,
  installMediaId: r.install_media_id ?? null,
  tags: parseJson<string[]>(r.tags, []),
  initiatorIqn: r.initiator_iqn,
  status: machineStatus(r),
  sessionId: r.session_id,
  lastSeenAt: r.last_seen_at,
  lastIp: r.last_ip,
  traffic: null,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const SORT: Record<(typeof MACHINE_SORT_FIELDS)[number], string> = {
  name: 'm.name',
  mac: 'm.mac',
  ip: 'm.ip',
  createdAt: 'm.created_at',
  updatedAt: 'm.updated_at',
  lastSeenAt: 'm.last_seen_at',
  bootMode: 'effective_boot_mode',
  status: 'ls.state',
};

/** The group's value of a column for machine `m` (null: no group, or not set there). */
const groupCol = (col: 'boot_mode' | 'boot_image_id') =>
  sql`(select g.${sql.ref(col)} from groups g where g.id = m.group_id)`;
/** The effective boot mode (machine -> group -> `normal`), for filtering and sorting. */
const effectiveBootMode = sql<string>`coalesce(m.boot_mode, ${groupCol('boot_mode')}, 'normal')`;

export class MachinesRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /** machines joined with their live session (at most one per machine, enforced by a unique index). */
  private base(db: Kysely<DB> = this.db) {
    return db.selectFrom('machines as m').leftJoin(
      (eb) =>
        eb
          .selectFrom('sessions')
          .select(['machine_id', 'id', 'state'])
          .where('state', '<>', 'ended')
          .as('ls'),
      (join) => join.onRef('ls.machine_id', '=', 'm.id'),
    );
  }

  private withSession<QB extends ReturnType<MachinesRepository['base']>>(qb: QB) {
    return qb.selectAll('m').select(['ls.id as session_id', 'ls.state as session_state']);
  }

  /** Machines of these groups, with what inheritance needs (release state of an image). */
  inheritableOfGroups(groupIds: string[]) {
    if (!groupIds.length) return Promise.resolve([]);
    return this.db
      .selectFrom('machines')
      .select([
        'id',
        'group_id',
        'boot_image_id',
        'extra_image_ids',
        'boot_mode',
        'boot_menu',
        'keep_writeback',
      ])
      .where('group_id', 'in', groupIds)
      .execute();
  }

  async findById(id: string): Promise<MachineRowWithSession | undefined> {
    return this.withSession(this.base()).where('m.id', '=', id).executeTakeFirst();
  }

  async findByMac(mac: string): Promise<MachineRowWithSession | undefined> {
    return this.withSession(this.base()).where('m.mac', '=', mac).executeTakeFirst();
  }

  async findByIds(ids: string[]): Promise<MachineRowWithSession[]> {
    if (!ids.length) return [];
    return this.withSession(this.base()).where('m.id', 'in', ids).execute();
  }

  async list(q: MachineListQuery): Promise<Page<MachineRowWithSession>> {
    // filters on the machine's own columns apply to the page and to the count; the count joins the
    // live sessions only when filtering on status
    type MachineEb = ExpressionBuilder<DB & { m: MachinesTable }, 'm'>;
    const conds: Array<(eb: MachineEb) => Expression<SqlBool>> = [];
    if (q.q) {
      const text = q.q;
      conds.push((eb) =>
        eb.or([
          containsInsensitive('m.name', text),
          containsInsensitive('m.mac', text),
          containsInsensitive(sql`coalesce(m.ip, '')`, text),
          containsInsensitive('m.description', text),
        ]),
      );
    }
    if (q.enabled !== undefined) {
      const v = q.enabled ? 1 : 0;
      conds.push((eb) => eb('m.enabled', '=', v));
    }
    if (q.pending !== undefined) {
      const v = q.pending ? 1 : 0;
      conds.push((eb) => eb('m.pending', '=', v));
    }
    if (q.bootMode) {
      const v = q.bootMode;
      conds.push((eb) => eb(effectiveBootMode, '=', v));
    }
    if (q.imageId) {
      // own boot image or extra disk, or the group's when the machine sets none
      const id = q.imageId;
      const like = `%${JSON.stringify(id)}%`;
      conds.push((eb) =>
        eb.or([
          eb('m.boot_image_id', '=', id),
          eb('m.extra_image_ids', 'like', like),
          eb.and([eb('m.boot_image_id', 'is', null), eb(groupCol('boot_image_id'), '=', id)]),
          eb.and([
            eb('m.extra_image_ids', 'is', null),
            eb(sql`(select g.extra_image_ids from groups g where g.id = m.group_id)`, 'like', like),
          ]),
        ]),
      );
    }
    if (q.groupId) {
      const g = q.groupId;
      conds.push((eb) => (g === 'none' ? eb('m.group_id', 'is', null) : eb('m.group_id', '=', g)));
    }
    if (q.tag) {
      const tag = JSON.stringify(q.tag);
      conds.push(() => likeEscaped('m.tags', `%${escapeLike(tag)}%`));
    }
    const own = (eb: MachineEb) => eb.and(conds.map((c) => c(eb)));
    let query = this.base().where((eb) => own(eb as unknown as MachineEb));
    if (q.status) {
      const s = q.status;
      query = query.where((eb) => {
        switch (s) {
          case 'pending':
            return eb('m.pending', '=', 1);
          case 'disabled':
            return eb.and([eb('m.pending', '=', 0), eb('m.enabled', '=', 0)]);
          case 'online':
            return eb.and([eb('m.pending', '=', 0), eb('m.enabled', '=', 1), eb('ls.state', '=', 'active')]);
          case 'booting':
            return eb.and([
              eb('m.pending', '=', 0),
              eb('m.enabled', '=', 1),
              eb('ls.state', 'in', ['starting', 'ready']),
            ]);
          case 'offline':
            return eb.and([eb('m.pending', '=', 0), eb('m.enabled', '=', 1), eb('ls.id', 'is', null)]);
        }
      });
    }
    const countQuery = q.status
      ? query
      : this.db.selectFrom('machines as m').where((eb) => own(eb as unknown as MachineEb));
    const total = await countQuery.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const { field, desc } = parseSort(q.sort, 'name');
    const items = await this.withSession(query)
      .select(effectiveBootMode.as('effective_boot_mode'))
      .orderBy(sql.ref(SORT[field]), desc ? 'desc' : 'asc')
      .orderBy('m.id')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items, total: Number(total.n) };
  }

  async insert(row: MachineRow, db: Kysely<DB> = this.db): Promise<void> {
    await db.insertInto('machines').values(row).execute();
  }

  async update(id: string, patch: Partial<Omit<MachineRow, 'id'>>, db: Kysely<DB> = this.db): Promise<void> {
    await db.updateTable('machines').set(patch).where('id', '=', id).execute();
  }

  /** The machine was seen on the network (an initiator logged in from that address). */
  async markSeen(id: string, at: string, ip: string | null): Promise<void> {
    await this.update(id, { last_seen_at: at, ...(ip ? { last_ip: ip } : {}) });
  }

  async updateMany(ids: string[], patch: Partial<Omit<MachineRow, 'id'>>): Promise<number> {
    const r = await this.db.updateTable('machines').set(patch).where('id', 'in', ids).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async delete(ids: string[]): Promise<number> {
    const r = await this.db.deleteFrom('machines').where('id', 'in', ids).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Every machine's id, in name order (the background boot preparation walks them). */
  async allIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('machines').select('id').orderBy('name').execute();
    return rows.map((r) => r.id);
  }

  async idsWithLiveSession(ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    const rows = await this.db
      .selectFrom('sessions')
      .select('machine_id')
      .where('machine_id', 'in', ids)
      .where('state', '<>', 'ended')
      .execute();
    return rows.map((r) => r.machine_id);
  }

  async existingNamesAndMacs(
    names: string[],
    macs: string[],
  ): Promise<{ names: Set<string>; macs: Set<string> }> {
    const rows =
      names.length || macs.length
        ? await this.db
            .selectFrom('machines')
            .select(['name', 'mac'])
            .where((eb) =>
              eb.or([
                eb('name', 'in', names.length ? names : ['']),
                eb('mac', 'in', macs.length ? macs : ['']),
              ]),
            )
            .execute()
        : [];
    return { names: new Set(rows.map((r) => r.name)), macs: new Set(rows.map((r) => r.mac)) };
  }

  async allNames(prefix: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('machines')
      .select('name')
      .where(likeEscaped('name', `${escapeLike(prefix)}%`))
      .execute();
    return rows.map((r) => r.name);
  }

  async transaction<T>(fn: (db: Kysely<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  // ---- registration caps (registration-policy.ts) ----

  async count(pendingOnly = false): Promise<number> {
    let q = this.db.selectFrom('machines').select((eb) => eb.fn.countAll<number>().as('n'));
    if (pendingOnly) q = q.where('pending', '=', 1);
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  /** Pending machines not seen since `before` (never seen: created before it), oldest first. */
  async stalePending(before: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('machines')
      .select('id')
      .where('pending', '=', 1)
      .where((eb) => eb(eb.fn.coalesce('last_seen_at', 'created_at'), '<', before))
      .orderBy((eb) => eb.fn.coalesce('last_seen_at', 'created_at'))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Deletes those of `ids` that are still pending (one approved meanwhile stays); returns what went. */
  async deletePending(ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    return this.db.transaction().execute(async (trx) => {
      const still = await trx
        .selectFrom('machines')
        .select('id')
        .where('id', 'in', ids)
        .where('pending', '=', 1)
        .execute();
      const gone = still.map((r) => r.id);
      if (gone.length) await trx.deleteFrom('machines').where('id', 'in', gone).execute();
      return gone;
    });
  }
}
