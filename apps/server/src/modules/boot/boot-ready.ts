import { normalizeMac, type BootReadyRequest } from '@ggnet/contracts';
import { AppError, badRequest } from '../../errors/app-error.js';
import type { MachinesRepository } from '../machines/machines.repository.js';
import type { BootEventsRepository } from '../boot-events/boot-events.repository.js';
import type { SessionsRepository } from '../sessions/sessions.repository.js';

/**
 * The live session a `POST /boot/ready` belongs to: accepted only from the address of a live
 * session (the one iPXE booted from, or the address DHCP gave that MAC since).
 */
export async function readySession(
  d: {
    machinesRepo: Pick<MachinesRepository, 'findByMac'>;
    events: Pick<BootEventsRepository, 'lastAckedIp'>;
    sessionsRepo: Pick<SessionsRepository, 'liveForMachine' | 'liveByIp'>;
  },
  body: BootReadyRequest,
  clientIp: string,
): Promise<{ sessionId: string; machineId: string | null; mac: string | null }> {
  const noSession = () =>
    new AppError(404, 'no_session', 'no live boot session belongs to this client', {
      hint: 'call it from the booted machine itself, after it booted from GGnet',
    });
  if (body?.mac) {
    const mac = normalizeMac(body.mac);
    if (!mac) throw badRequest('invalid_mac', 'mac is not a MAC address', 'e.g. 52:54:00:12:34:56');
    const row = await d.machinesRepo.findByMac(mac);
    const live = row ? await d.sessionsRepo.liveForMachine(row.id) : undefined;
    if (!row || !live) throw noSession();
    const acked = await d.events.lastAckedIp(mac, live.started_at);
    if (clientIp !== live.client_ip && clientIp !== row.last_ip && clientIp !== acked) throw noSession();
    return { sessionId: live.id, machineId: row.id, mac };
  }
  const live = await d.sessionsRepo.liveByIp(clientIp);
  if (!live) throw noSession();
  return { sessionId: live.id, machineId: live.machine_id, mac: live.mac };
}
