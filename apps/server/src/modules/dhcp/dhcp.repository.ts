import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

export class DhcpRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /** Machines with a fixed address: each gets a DHCP reservation (dhcp mode). */
  reservations(): Promise<Array<{ mac: string; ip: string; name: string }>> {
    return this.db
      .selectFrom('machines')
      .select(['mac', 'ip', 'name'])
      .where('ip', 'is not', null)
      .orderBy('name')
      .execute() as Promise<Array<{ mac: string; ip: string; name: string }>>;
  }

  /** Machines without a fixed address, oldest first (the order GGnet hands out their DHCP addresses). */
  machinesWithoutFixedIp(): Promise<Array<{ mac: string; name: string }>> {
    return this.db
      .selectFrom('machines')
      .select(['mac', 'name'])
      .where('ip', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  /** Machine and live session of each MAC (for attributing DHCP/TFTP events). */
  async machinesByMac(
    macs: string[],
  ): Promise<Map<string, { machineId: string; sessionId: string | null; sessionState: string | null }>> {
    const out = new Map<
      string,
      { machineId: string; sessionId: string | null; sessionState: string | null }
    >();
    if (!macs.length) return out;
    const rows = await this.db
      .selectFrom('machines as m')
      .leftJoin(
        (eb) =>
          eb
            .selectFrom('sessions')
            .select(['machine_id', 'id', 'state'])
            .where('state', '<>', 'ended')
            .as('ls'),
        (join) => join.onRef('ls.machine_id', '=', 'm.id'),
      )
      .select(['m.mac', 'm.id', 'ls.id as session_id', 'ls.state as session_state'])
      .where('m.mac', 'in', macs)
      .execute();
    for (const r of rows)
      out.set(r.mac, {
        machineId: r.id,
        sessionId: r.session_id ?? null,
        sessionState: r.session_state ?? null,
      });
    return out;
  }
}
