import type { Logger } from 'pino';
import type { WakeDestination, WakeOnLan, WakeSender } from '../../adapters/wol/wol.adapter.js';

export interface WakeItem {
  machineId: string;
  mac: string;
  dest: WakeDestination;
  /** Gap to the next packet (1000 / power.packetsPerSecond when it was queued). */
  intervalMs: number;
  /** Who asked: a user name, or `schedule:<id>`. */
  by: string;
  scheduleId: string | null;
}

export interface WakeQueueDeps {
  wol: WakeOnLan;
  log: Logger;
  /** Called after each packet left (records the `wake_sent` boot event). */
  onSent: (item: WakeItem, at: number) => Promise<void>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const sameDest = (a: WakeDestination, b: WakeDestination) =>
  a.broadcast === b.broadcast && a.port === b.port && a.sourceAddress === b.sourceAddress;

/**
 * One queue of magic packets for the whole server, sent one after another at the configured pace
 * (two bulk wakes at once do not double the rate). A MAC already waiting is not queued twice.
 */
export class WakeQueue {
  private readonly queue: WakeItem[] = [];
  private running: Promise<void> | null = null;
  private nextAt = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: WakeQueueDeps) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  get length(): number {
    return this.queue.length;
  }

  /** Queues packets; returns how many were new and ms until the last of them is due. */
  push(items: WakeItem[]): { queued: number; etaMs: number } {
    const waiting = new Set(this.queue.map((i) => i.mac));
    let queued = 0;
    for (const it of items) {
      if (waiting.has(it.mac)) continue;
      waiting.add(it.mac);
      this.queue.push(it);
      queued++;
    }
    const etaMs =
      Math.max(0, this.nextAt - this.now()) +
      this.queue.slice(0, -1).reduce((sum, i) => sum + i.intervalMs, 0);
    this.running ??= this.run().finally(() => (this.running = null));
    return { queued, etaMs: this.queue.length ? etaMs : 0 };
  }

  /** Drops the packets not sent yet (shutdown); returns how many. */
  clear(): number {
    return this.queue.splice(0).length;
  }

  /** Resolves when every queued packet is sent (tests). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  private async run(): Promise<void> {
    while (this.queue.length) {
      const dest = this.queue[0]!.dest;
      let sender: WakeSender;
      try {
        sender = await this.deps.wol.open(dest);
      } catch (err) {
        const other = this.queue.findIndex((i) => !sameDest(i.dest, dest));
        const dropped = this.queue.splice(0, other < 0 ? this.queue.length : other);
        this.deps.log.error({ err, dest, dropped: dropped.length }, 'cannot open the Wake-on-LAN socket');
        continue;
      }
      try {
        while (this.queue.length && sameDest(this.queue[0]!.dest, dest)) {
          const item = this.queue.shift()!;
          const wait = this.nextAt - this.now();
          if (wait > 0) await this.sleep(wait);
          try {
            await sender.send(item.mac);
            const at = this.now();
            this.nextAt = at + item.intervalMs;
            await this.deps.onSent(item, at);
          } catch (err) {
            this.nextAt = this.now() + item.intervalMs;
            this.deps.log.error({ err, machineId: item.machineId, mac: item.mac }, 'magic packet not sent');
          }
        }
      } finally {
        await sender.close().catch(() => undefined);
      }
    }
  }
}
