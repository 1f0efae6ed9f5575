import { EventEmitter } from 'node:events';
import type { LiveEvent } from '@ggnet/contracts';

/**
 * In-process fan-out of changes (machine.updated, job.progress, ...). Services publish after their
 * write has committed; the events WebSocket and the reconciler subscribe.
 */
export class EventBus {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  publish(type: string, id: string, data: unknown = null): void {
    const event: LiveEvent = { type, id, data };
    this.emitter.emit('event', event);
  }
  subscribe(listener: (e: LiveEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
