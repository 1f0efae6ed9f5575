import type { ApplyWriteback, ImageVersion } from '@ggnet/contracts';
import { conflict, notFound } from '../../errors/app-error.js';
import type { IscsiRuntime } from '../targets/iscsi.runtime.js';
import type { TargetsRepository } from '../targets/targets.repository.js';
import type { StorageService } from '../writebacks/storage.service.js';
import type { WritebacksRepository } from '../writebacks/writebacks.repository.js';
import type { SessionOrchestrator } from './session-orchestrator.js';
import type { SessionsRepository } from './sessions.repository.js';

/** A maintenance session's disk becomes a new image version (POST /sessions/{id}/apply). */
export class SessionApply {
  constructor(
    private readonly d: {
      sessions: SessionsRepository;
      writebacks: WritebacksRepository;
      targets: TargetsRepository;
      iscsi: IscsiRuntime;
      storage: StorageService;
      orchestrator: SessionOrchestrator;
    },
  ) {}

  /**
   * POST /sessions/{id}/apply: the session's boot disk becomes a new version of its image. With the
   * client logged in this is refused unless forced (then a crash-consistent snapshot is taken and the
   * session keeps running); otherwise the session ends (`applied`) and its writeback file is moved into
   * the version without copying.
   */
  async apply(sessionId: string, body: ApplyWriteback, author: string | null): Promise<ImageVersion> {
    const s = await this.d.sessions.findById(sessionId);
    if (!s) throw notFound('session', sessionId);
    const opts = { comment: body.comment, publish: body.publish ?? false, author };
    if (!s.writeback_id) throw conflict('no_writeback', 'the session has no writeback', 'nothing to apply');
    if (s.state === 'ended') {
      const wb = await this.d.writebacks.findById(s.writeback_id);
      if (wb?.state !== 'kept')
        throw conflict(
          'writeback_gone',
          `the session ended and its writeback is ${wb?.state ?? 'gone'}`,
          'only a kept writeback of an ended session can be applied',
        );
      return this.d.storage.applyToVersion(wb.id, { ...opts, mode: 'move' });
    }
    const target = s.target_id ? await this.d.targets.findById(s.target_id) : undefined;
    const live = target ? (await this.d.iscsi.live(0)).find((t) => t.iqn === target.iqn) : undefined;
    const connected = (live?.connections.length ?? 0) > 0;
    if (connected && !body.force)
      throw conflict(
        'session_connected',
        `${live!.connections.map((c) => c.initiator).join(', ')} is logged in to the session's disk`,
        'shut the client down first so its disk is consistent, or send force: true to apply a crash-consistent snapshot while it keeps running',
      );
    if (connected) return this.d.storage.applyToVersion(s.writeback_id, { ...opts, mode: 'snapshot' });
    const wbId = s.writeback_id;
    // the target goes first: from here on nothing writes to the file that becomes the version
    await this.d.orchestrator.endSession(s.id, 'applied');
    return this.d.storage.applyToVersion(wbId, { ...opts, mode: 'move' });
  }
}
