import type { Insertable, Kysely, Selectable } from 'kysely';
import type { DB, PowerSchedulesTable } from '../../db/schema.js';

export type ScheduleRow = Selectable<PowerSchedulesTable>;

/** What a wake needs of a machine (read from machines, written only by the machines repository). */
export interface WakeMachineRow {
  id: string;
  mac: string;
  enabled: number;
  pending: number;
}

/** Owner of power_schedules; reads the machines a wake is for. */
export class PowerRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async machinesByIds(ids: string[]): Promise<WakeMachineRow[]> {
    const out: WakeMachineRow[] = [];
    // chunks keep the IN list within every driver's parameter limit
    for (let i = 0; i < ids.length; i += 500) {
      out.push(
        ...(await this.db
          .selectFrom('machines')
          .select(['id', 'mac', 'enabled', 'pending'])
          .where('id', 'in', ids.slice(i, i + 500))
          .execute()),
      );
    }
    return out;
  }

  /** Every machine, by name (the wake of "all" skips disabled and pending ones and says so). */
  async allMachines(): Promise<WakeMachineRow[]> {
    return this.db
      .selectFrom('machines')
      .select(['id', 'mac', 'enabled', 'pending'])
      .orderBy('name')
      .execute();
  }

  /** The members of a group, by name; null if the group does not exist. */
  async machinesInGroup(groupId: string): Promise<WakeMachineRow[] | null> {
    const g = await this.db.selectFrom('groups').select('id').where('id', '=', groupId).executeTakeFirst();
    if (!g) return null;
    return this.db
      .selectFrom('machines')
      .select(['id', 'mac', 'enabled', 'pending'])
      .where('group_id', '=', groupId)
      .orderBy('name')
      .execute();
  }

  async listSchedules(): Promise<ScheduleRow[]> {
    return this.db.selectFrom('power_schedules').selectAll().orderBy('name').execute();
  }

  async findSchedule(id: string): Promise<ScheduleRow | undefined> {
    return this.db.selectFrom('power_schedules').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertSchedule(row: Insertable<PowerSchedulesTable>): Promise<void> {
    await this.db.insertInto('power_schedules').values(row).execute();
  }

  async updateSchedule(id: string, patch: Partial<Omit<ScheduleRow, 'id'>>): Promise<number> {
    const r = await this.db.updateTable('power_schedules').set(patch).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async deleteSchedule(id: string): Promise<number> {
    const r = await this.db.deleteFrom('power_schedules').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /**
   * Claims a slot: moves last_slot_at forward to `slot` only if it is still older. Exactly one caller
   * (one process, one tick) wins a slot, so each slot fires at most once, across restarts too.
   */
  async claimSlot(id: string, slot: string): Promise<boolean> {
    const r = await this.db
      .updateTable('power_schedules')
      .set({ last_slot_at: slot })
      .where('id', '=', id)
      .where('last_slot_at', '<', slot)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async setLastRun(id: string, run: string): Promise<void> {
    await this.db.updateTable('power_schedules').set({ last_run: run }).where('id', '=', id).execute();
  }
}
