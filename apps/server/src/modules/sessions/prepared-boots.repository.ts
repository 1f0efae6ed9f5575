import type { Kysely, Selectable } from 'kysely';
import type { DB, PreparedBootsTable } from '../../db/schema.js';
import { isUniqueViolation, nowIso } from '../../db/database.js';

export type PreparedBootRow = Selectable<PreparedBootsTable>;

/**
 * Owner of the prepared_boots table (written by the session orchestrator only): a machine's next
 * boot made ahead of its request. Claiming one is a single conditional DELETE plus the session's
 * INSERT in one transaction: of two requests (or two GGnet processes) only one gets the row.
 */
export class PreparedBootsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  findByMachine(machineId: string): Promise<PreparedBootRow | undefined> {
    return this.db
      .selectFrom('prepared_boots')
      .selectAll()
      .where('machine_id', '=', machineId)
      .executeTakeFirst();
  }

  all(): Promise<PreparedBootRow[]> {
    return this.db.selectFrom('prepared_boots').selectAll().execute();
  }

  /** The (future) session ids of every prepared boot: their targets and writebacks are wanted. */
  async sessionIds(): Promise<Set<string>> {
    const rows = await this.db.selectFrom('prepared_boots').select('session_id').execute();
    return new Set(rows.map((r) => r.session_id));
  }

  /** Starts a preparation (throws a unique violation when the machine has one already). */
  async insert(row: PreparedBootRow): Promise<void> {
    await this.db.insertInto('prepared_boots').values(row).execute();
  }

  async markReady(machineId: string, sessionId: string, targetId: string): Promise<number> {
    const r = await this.db
      .updateTable('prepared_boots')
      .set({ state: 'ready', target_id: targetId, ready_at: nowIso() })
      .where('machine_id', '=', machineId)
      .where('session_id', '=', sessionId)
      .where('state', '=', 'preparing')
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Removes a prepared boot (undo); true when this call removed it. */
  async remove(machineId: string, sessionId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('prepared_boots')
      .where('machine_id', '=', machineId)
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  /**
   * The claim: deletes the ready row and inserts its session, in one transaction. False (and
   * nothing written) when another request got there first, or when the machine has a live
   * session already (the unique index of live sessions refuses the insert).
   */
  async claim(row: PreparedBootRow, insertSession: (trx: Kysely<DB>) => Promise<void>): Promise<boolean> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const r = await trx
          .deleteFrom('prepared_boots')
          .where('machine_id', '=', row.machine_id)
          .where('session_id', '=', row.session_id)
          .where('state', '=', 'ready')
          .executeTakeFirst();
        if (Number(r.numDeletedRows) !== 1) return false;
        await insertSession(trx); // through the sessions repository, the table's one writer
        return true;
      });
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }
}
