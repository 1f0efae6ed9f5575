import type { BootEvent } from '@ggnet/contracts';
import type { EventBus } from '../../events/event-bus.js';
import type { BootEventsRepository, NewBootEvent } from './boot-events.repository.js';

/**
 * The one way a boot event comes into being: stored in boot_events and published on the bus
 * (`boot.event`, which refreshes the console's boot activity). Used by the boot endpoint, the DHCP
 * log reader, the boot guard and the session monitor (iSCSI logins and logouts) alike.
 */
export class BootEventRecorder {
  constructor(
    private readonly repo: Pick<BootEventsRepository, 'insertMany'>,
    private readonly bus: EventBus,
  ) {}

  async record(e: NewBootEvent): Promise<BootEvent | undefined> {
    return (await this.recordMany([e]))[0];
  }

  async recordMany(events: NewBootEvent[]): Promise<BootEvent[]> {
    const inserted = await this.repo.insertMany(events);
    for (const ev of inserted) this.bus.publish('boot.event', String(ev.id), ev);
    return inserted;
  }
}
