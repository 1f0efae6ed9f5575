import type {
  ApplyWriteback,
  BootEvent,
  ImageVersion,
  Page,
  Session,
  SessionListQuery,
  SessionStart,
  SessionStartResult,
  SessionStop,
} from '@ggnet/contracts';
import { conflict, notFound } from '../../errors/app-error.js';
import type { SessionApply } from './session-apply.js';
import type { SessionOrchestrator } from './session-orchestrator.js';
import type { BootEventsRepository } from '../boot-events/boot-events.repository.js';
import { toSession, type SessionsRepository } from './sessions.repository.js';
import type { LiveTraffic } from '../traffic/live-traffic.js';

export class SessionsService {
  constructor(
    private readonly repo: SessionsRepository,
    private readonly orchestrator: SessionOrchestrator,
    private readonly events: BootEventsRepository,
    private readonly applies: SessionApply,
    private readonly traffic: LiveTraffic | null = null,
  ) {}

  /** The session with its live traffic (sampled by the session monitor while it is live), else what was saved. */
  private withTraffic(s: Session): Session {
    return this.traffic ? { ...s, traffic: this.traffic.ofSession(s.id) ?? s.traffic } : s;
  }

  async list(q: SessionListQuery): Promise<Page<Session>> {
    const page = await this.repo.list(q);
    return { items: page.items.map((r) => this.withTraffic(toSession(r))), total: page.total };
  }

  async get(id: string): Promise<Session> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('session', id);
    return this.withTraffic(toSession(row));
  }

  async timeline(id: string): Promise<BootEvent[]> {
    await this.get(id);
    return this.events.ofSession(id);
  }

  /** POST /sessions: what the boot endpoint does for a booting machine, by hand. */
  async start(req: SessionStart, clientIp: string | null = null): Promise<SessionStartResult> {
    return this.orchestrator.startSession({ machineId: req.machineId, mode: req.mode ?? 'normal', clientIp });
  }

  /** Ends the session: its target is removed at once, its writeback discarded unless kept. */
  async stop(id: string, body: SessionStop = {}): Promise<Session> {
    const s = await this.get(id);
    if (s.state === 'ended')
      throw conflict('session_ended', 'the session has already ended', 'nothing to stop');
    const ended = await this.orchestrator.endSession(id, 'stopped', { keepWriteback: body.keepWriteback });
    if (!ended) throw conflict('session_ended', 'the session has already ended', 'nothing to stop');
    return this.get(id);
  }

  apply(id: string, body: ApplyWriteback, author: string | null): Promise<ImageVersion> {
    return this.applies.apply(id, body, author);
  }
}
