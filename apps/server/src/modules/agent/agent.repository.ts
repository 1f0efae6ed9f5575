import type { AgentCommand, AgentCommandType, AgentFacts } from '@ggnet/contracts';
import type { Kysely, Selectable } from 'kysely';
import { isUniqueViolation } from '../../db/database.js';
import type { AgentCommandsTable, AgentSessionsTable, DB } from '../../db/schema.js';
import { parseJson } from '../../lib/json.js';

export type AgentSessionRow = Selectable<AgentSessionsTable>;
export type AgentCommandRow = Selectable<AgentCommandsTable>;
/** An agent's session row with the state of its boot session (a token is alive only while that is). */
export type AgentSessionLive = AgentSessionRow & { session_state: string };

export const toAgentCommand = (r: AgentCommandRow): AgentCommand => ({
  id: r.id,
  machineId: r.machine_id,
  sessionId: r.session_id,
  type: r.type as AgentCommandType,
  text: r.text,
  state: r.state as AgentCommand['state'],
  createdAt: r.created_at,
  createdBy: r.created_by,
  deliveredAt: r.delivered_at,
  doneAt: r.done_at,
  result: r.result,
});

export const factsOf = (r: Pick<AgentSessionRow, 'facts'>): AgentFacts | null =>
  parseJson<AgentFacts | null>(r.facts, null);

/** All SQL of the client agent: agent_sessions (tokens, facts) and agent_commands. */
export class AgentRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /** The live session a claim from `ip` belongs to: a session that has not ended, started from that address. */
  liveSessionsAt(ip: string): Promise<Array<{ id: string; machine_id: string }>> {
    return this.db
      .selectFrom('sessions')
      .select(['id', 'machine_id'])
      .where('client_ip', '=', ip)
      .where('state', '<>', 'ended')
      .limit(2)
      .execute();
  }

  /**
   * Stores the claim of a session; false when that session was claimed already. The machine's
   * older claims go (their sessions ended): one row per machine, so machine lists stay cheap.
   */
  async insertClaim(row: AgentSessionRow): Promise<boolean> {
    try {
      await this.db.insertInto('agent_sessions').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
    await this.db
      .deleteFrom('agent_sessions')
      .where('machine_id', '=', row.machine_id)
      .where('session_id', '<>', row.session_id)
      .execute();
    return true;
  }

  /** The agent session of a token hash, with its boot session's state (undefined: unknown token). */
  byTokenHash(hash: string): Promise<AgentSessionLive | undefined> {
    return this.db
      .selectFrom('agent_sessions as a')
      .innerJoin('sessions as s', 's.id', 'a.session_id')
      .selectAll('a')
      .select('s.state as session_state')
      .where('a.token_hash', '=', hash)
      .executeTakeFirst();
  }

  bySession(sessionId: string): Promise<AgentSessionRow | undefined> {
    return this.db
      .selectFrom('agent_sessions')
      .selectAll()
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
  }

  async touch(sessionId: string, at: string, facts?: AgentFacts): Promise<void> {
    await this.db
      .updateTable('agent_sessions')
      .set(facts ? { last_seen_at: at, facts: JSON.stringify(facts) } : { last_seen_at: at })
      .where('session_id', '=', sessionId)
      .execute();
  }

  async setGoingDown(sessionId: string, kind: string): Promise<void> {
    await this.db
      .updateTable('agent_sessions')
      .set({ going_down: kind })
      .where('session_id', '=', sessionId)
      .execute();
  }

  /** The newest agent session of each machine (with its boot session's state). */
  async newestForMachines(machineIds: string[]): Promise<Map<string, AgentSessionLive>> {
    const out = new Map<string, AgentSessionLive>();
    if (!machineIds.length) return out;
    const rows = await this.db
      .selectFrom('agent_sessions as a')
      .innerJoin('sessions as s', 's.id', 'a.session_id')
      .selectAll('a')
      .select('s.state as session_state')
      .where('a.machine_id', 'in', machineIds)
      .orderBy('a.claimed_at', 'desc')
      .execute();
    for (const r of rows) if (!out.has(r.machine_id)) out.set(r.machine_id, r);
    return out;
  }

  async insertCommand(row: AgentCommandRow): Promise<void> {
    await this.db.insertInto('agent_commands').values(row).execute();
  }

  /** Commands of a session not yet acknowledged (queued, or delivered to a poll that may have been lost). */
  pendingFor(sessionId: string, limit = 20): Promise<AgentCommandRow[]> {
    return this.db
      .selectFrom('agent_commands')
      .selectAll()
      .where('session_id', '=', sessionId)
      .where('state', 'in', ['queued', 'delivered'])
      .orderBy('created_at')
      .limit(limit)
      .execute();
  }

  async markDelivered(ids: string[], at: string): Promise<void> {
    if (!ids.length) return;
    await this.db
      .updateTable('agent_commands')
      .set({ state: 'delivered', delivered_at: at })
      .where('id', 'in', ids)
      .where('state', '=', 'queued')
      .execute();
  }

  /** Acknowledges a pending command of this session; undefined when there is none such. */
  async ack(
    id: string,
    sessionId: string,
    state: 'done' | 'failed',
    result: string | null,
    at: string,
  ): Promise<AgentCommandRow | undefined> {
    const r = await this.db
      .updateTable('agent_commands')
      .set({ state, result, done_at: at })
      .where('id', '=', id)
      .where('session_id', '=', sessionId)
      .where('state', 'in', ['queued', 'delivered'])
      .executeTakeFirst();
    if (!Number(r.numUpdatedRows)) return undefined;
    return this.command(id);
  }

  command(id: string): Promise<AgentCommandRow | undefined> {
    return this.db.selectFrom('agent_commands').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Commands of a session that ended before they were acknowledged. */
  async expireSession(sessionId: string, at: string): Promise<AgentCommandRow[]> {
    const rows = await this.pendingFor(sessionId, 1000);
    if (!rows.length) return [];
    await this.db
      .updateTable('agent_commands')
      .set({ state: 'expired', done_at: at })
      .where('session_id', '=', sessionId)
      .where('state', 'in', ['queued', 'delivered'])
      .execute();
    return rows.map((r) => ({ ...r, state: 'expired', done_at: at }));
  }

  /** The machine's newest commands. */
  commandsOf(machineId: string, limit = 20): Promise<AgentCommandRow[]> {
    return this.db
      .selectFrom('agent_commands')
      .selectAll()
      .where('machine_id', '=', machineId)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
  }
}
