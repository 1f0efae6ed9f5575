import type { Kysely, Selectable } from 'kysely';
import type { BootEvent, BootEventKind, BootEventListQuery, Page } from '@ggnet/contracts';
import type { BootEventsTable, DB } from '../../db/schema.js';
import { parseJson } from '../../lib/json.js';

export interface NewBootEvent {
  at: string;
  mac: string | null;
  machineId: string | null;
  sessionId: string | null;
  kind: BootEventKind;
  detail: Record<string, unknown>;
}

export const toBootEvent = (r: Selectable<BootEventsTable>): BootEvent => ({
  id: Number(r.id),
  at: r.at,
  mac: r.mac,
  machineId: r.machine_id,
  sessionId: r.session_id,
  kind: r.kind as BootEventKind,
  detail: parseJson<Record<string, unknown>>(r.detail, {}),
});

/** Kinds that happen before the boot script, in firmware or iPXE: linked to the session the script starts. */
export const PRE_SCRIPT_KINDS: BootEventKind[] = [
  'dhcp_discover',
  'dhcp_offer',
  'dhcp_request',
  'dhcp_ack',
  'tftp',
];

/** Script outcomes after which the same iPXE run asks again (no new power-on in between). */
const CONTINUING_RESULTS = new Set(['pending', 'error', 'identify', 'menu', 'preparing', 'maintenance']);

/**
 * Owner of the boot_events table: the only code that writes it. New events come in through
 * BootEventRecorder (boot-event-recorder.ts), which also publishes them.
 */
export class BootEventsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async insertMany(events: NewBootEvent[]): Promise<BootEvent[]> {
    if (!events.length) return [];
    const rows = await this.db
      .insertInto('boot_events')
      .values(
        events.map((e) => ({
          at: e.at,
          mac: e.mac,
          machine_id: e.machineId,
          session_id: e.sessionId,
          kind: e.kind,
          detail: JSON.stringify(e.detail),
        })),
      )
      .returningAll()
      .execute();
    return rows.map(toBootEvent);
  }

  async list(q: BootEventListQuery & { mac?: string }): Promise<Page<BootEvent>> {
    let query = this.db.selectFrom('boot_events');
    if (q.mac) query = query.where('mac', '=', q.mac);
    if (q.machineId) query = query.where('machine_id', '=', q.machineId);
    if (q.sessionId) query = query.where('session_id', '=', q.sessionId);
    if (q.kind) query = query.where('kind', '=', q.kind);
    if (q.since) query = query.where('at', '>=', new Date(q.since).toISOString());
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await query
      .selectAll()
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit)
      .offset(q.offset)
      .execute();
    return { items: rows.map(toBootEvent), total: Number(total.n) };
  }

  /**
   * Gives the firmware's DHCP/TFTP events of this MAC that no session owns yet (and that are newer
   * than `since`) to the session that the boot script just started.
   */
  async linkToSession(mac: string, machineId: string, sessionId: string, since: string): Promise<number> {
    const r = await this.db
      .updateTable('boot_events')
      .set({ session_id: sessionId, machine_id: machineId })
      .where('mac', '=', mac)
      .where('session_id', 'is', null)
      .where('at', '>=', since)
      .where('kind', 'in', PRE_SCRIPT_KINDS)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * When this MAC's previous network boot ended: its last script that left iPXE (sanboot, or exit
   * to the local disk). Scripts that keep iPXE asking (waiting for approval, a temporary error) are
   * part of the same boot, so the DHCP/TFTP before them still belong to the session that follows.
   */
  async lastRunEnd(mac: string): Promise<string | null> {
    const rows = await this.db
      .selectFrom('boot_events')
      .select(['at', 'detail'])
      .where('mac', '=', mac)
      .where('kind', '=', 'script')
      .orderBy('at', 'desc')
      .limit(50)
      .execute();
    for (const r of rows) {
      const result = parseJson<{ result?: string }>(r.detail, {}).result;
      if (result && !CONTINUING_RESULTS.has(result)) return r.at;
    }
    return null;
  }

  async hasKind(sessionId: string, kind: BootEventKind): Promise<boolean> {
    const r = await this.db
      .selectFrom('boot_events')
      .select('id')
      .where('session_id', '=', sessionId)
      .where('kind', '=', kind)
      .limit(1)
      .executeTakeFirst();
    return !!r;
  }

  /** The most recent address the DHCP server gave this MAC (to recognise the client OS). */
  async lastAckedIp(mac: string, since: string): Promise<string | null> {
    const rows = await this.db
      .selectFrom('boot_events')
      .select(['detail'])
      .where('mac', '=', mac)
      .where('kind', '=', 'dhcp_ack')
      .where('at', '>=', since)
      .orderBy('at', 'desc')
      .limit(5)
      .execute();
    for (const r of rows) {
      try {
        const ip = (JSON.parse(r.detail) as { ip?: unknown }).ip;
        if (typeof ip === 'string') return ip;
      } catch {
        /* ignore */
      }
    }
    return null;
  }

  /** A session's events in order (GET /sessions/{id}/events). */
  async ofSession(sessionId: string): Promise<BootEvent[]> {
    const rows = await this.db
      .selectFrom('boot_events')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('at')
      .orderBy('id')
      .execute();
    return rows.map(toBootEvent);
  }

  async eventsOfSessions(ids: string[]): Promise<Selectable<BootEventsTable>[]> {
    const out: Selectable<BootEventsTable>[] = [];
    // chunks keep the IN list within every driver's parameter limit
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      out.push(
        ...(await this.db
          .selectFrom('boot_events')
          .selectAll()
          .where('session_id', 'in', chunk)
          .where('kind', 'in', [...PRE_SCRIPT_KINDS, 'script', 'iscsi_login', 'os_up'])
          .orderBy('at')
          .orderBy('id')
          .execute()),
      );
    }
    return out;
  }
}
