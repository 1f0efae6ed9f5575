import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import { nowIso } from '../../db/database.js';
import { chapSecret, newId } from '../../lib/ids.js';
import type { BootSessionInfo, BootSessionRequest, BootSessionStarter } from '../sessions/boot-session.js';

/**
 * Stands in for the iSCSI side in tests of the boot endpoint: ends the machine's live session,
 * inserts a new `ready` session row (so timelines and stats work) and answers like the real one.
 */
export class FakeBootSessionStarter implements BootSessionStarter {
  readonly requests: BootSessionRequest[] = [];
  delayMs = 0;
  failWith: Error | null = null;
  running = 0;
  maxRunning = 0;
  private readonly runningPerMachine = new Map<string, number>();
  maxRunningPerMachine = 0;
  /** What each session was answered with (resumeSession hands the same back). */
  readonly answers = new Map<string, BootSessionInfo>();
  readonly resumed: string[] = [];

  constructor(
    private readonly db: Kysely<DB> | null,
    private readonly portal = { host: '10.0.0.1', port: 3260 },
  ) {}

  async startSession(req: BootSessionRequest): Promise<BootSessionInfo> {
    this.requests.push(req);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const perMachine = (this.runningPerMachine.get(req.machineId) ?? 0) + 1;
    this.runningPerMachine.set(req.machineId, perMachine);
    this.maxRunningPerMachine = Math.max(this.maxRunningPerMachine, perMachine);
    try {
      if (this.delayMs) await sleep(this.delayMs);
      if (this.failWith) throw this.failWith;
      const machine = this.db
        ? await this.db
            .selectFrom('machines')
            .selectAll()
            .where('id', '=', req.machineId)
            .executeTakeFirstOrThrow()
        : null;
      const id = newId();
      let versionId = 'v';
      if (this.db && machine) {
        const now = nowIso();
        await this.db
          .updateTable('sessions')
          .set({ state: 'ended', end_reason: 'rebooted', ended_at: now })
          .where('machine_id', '=', req.machineId)
          .where('state', '<>', 'ended')
          .execute();
        const image = machine.boot_image_id
          ? await this.db
              .selectFrom('images')
              .selectAll()
              .where('id', '=', machine.boot_image_id)
              .executeTakeFirst()
          : undefined;
        await this.db
          .insertInto('sessions')
          .values({
            id,
            machine_id: req.machineId,
            image_id: machine.boot_image_id,
            version_id: image?.published_version_id ?? null,
            target_id: null,
            writeback_id: null,
            mode: req.mode,
            state: 'ready',
            end_reason: null,
            error: null,
            client_ip: req.clientIp,
            started_at: now,
            ready_at: now,
            active_at: null,
            ended_at: null,
            last_activity_at: null,
            connections: '[]',
          })
          .execute();
        versionId = image?.published_version_id ?? versionId;
      }
      const name = machine?.name ?? 'pc';
      const info: BootSessionInfo = {
        sessionId: id,
        state: 'ready',
        targetIqn: `iqn.2024-01.lan.ggnet:${name}`,
        portalHost: this.portal.host,
        portalPort: this.portal.port,
        initiatorIqn: machine?.initiator_iqn ?? `iqn.2024-01.lan.ggnet:initiator.${name}`,
        luns: [
          {
            lun: 1,
            kind: 'boot',
            imageId: machine?.boot_image_id ?? 'img',
            versionId,
          },
        ],
        // a fresh secret per session, as the real one makes
        chap: { username: `${name}.s${id.replace(/-/g, '').slice(0, 8)}`, password: chapSecret(16) },
        reverseChap: null,
      };
      this.answers.set(id, info);
      return info;
    } finally {
      this.running--;
      this.runningPerMachine.set(req.machineId, (this.runningPerMachine.get(req.machineId) ?? 1) - 1);
    }
  }

  async resumeSession(sessionId: string): Promise<BootSessionInfo | null> {
    const info = this.answers.get(sessionId);
    if (!info) return null;
    if (this.db) {
      const row = await this.db
        .selectFrom('sessions')
        .select(['state', 'active_at'])
        .where('id', '=', sessionId)
        .executeTakeFirst();
      if (!row || row.state !== 'ready' || row.active_at) return null;
    }
    this.resumed.push(sessionId);
    return info;
  }
}

/** A session's answer for small tests: one boot LUN, CHAP, no mutual CHAP. */
export function fakeSessionInfo(sessionId: string, over: Partial<BootSessionInfo> = {}): BootSessionInfo {
  return {
    sessionId,
    state: 'ready',
    targetIqn: 'iqn.2025-01.org.ggnet:s-1',
    portalHost: '10.0.0.1',
    portalPort: 3260,
    initiatorIqn: 'iqn.2025-01.org.ggnet:pc-7',
    luns: [{ lun: 1, kind: 'boot', imageId: 'i', versionId: 'v' }],
    chap: { username: 'u1', password: 'secret1' },
    reverseChap: null,
    ...over,
  };
}
