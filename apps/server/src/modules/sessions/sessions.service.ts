import type { BootEvent, Page, Session, SessionListQuery } from '@ggnet/contracts';
import { conflict, notFound } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { toBootEvent, toSession, type SessionsRepository } from './sessions.repository.js';

export class SessionsService {
  constructor(
    private readonly repo: SessionsRepository,
    private readonly bus: EventBus,
  ) {}

  async list(q: SessionListQuery): Promise<Page<Session>> {
    const page = await this.repo.list(q);
    return { items: page.items.map(toSession), total: page.total };
  }

  async get(id: string): Promise<Session> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('session', id);
    return toSession(row);
  }

  async timeline(id: string): Promise<BootEvent[]> {
    await this.get(id);
    return (await this.repo.bootEvents(id)).map(toBootEvent);
  }

  /** Ends the session; the reconciler then removes its target and (unless kept) its writeback. */
  async stop(id: string): Promise<Session> {
    const s = await this.get(id);
    if (s.state === 'ended')
      throw conflict('session_ended', 'the session has already ended', 'nothing to stop');
    await this.repo.update(
      id,
      { state: 'ended', end_reason: 'stopped', ended_at: nowIso() },
      { notState: 'ended' },
    );
    const out = await this.get(id);
    this.bus.publish('session.ended', id, out);
    return out;
  }
}
