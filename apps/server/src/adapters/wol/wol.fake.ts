import type { InterfaceAddress, WakeDestination, WakeOnLan, WakeSender } from './wol.adapter.js';
import { magicPacket } from './wol.adapter.js';

export interface SentPacket {
  mac: string;
  bytes: Buffer;
  dest: WakeDestination;
  /** The fake clock's time (or Date.now()) when it was sent. */
  at: number;
}

/** Records the packets instead of sending them; interfaces are what the test says. */
export class FakeWakeOnLan implements WakeOnLan {
  readonly sent: SentPacket[] = [];
  readonly interfaces = new Map<string, InterfaceAddress>();
  failNext: Error | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  interfaceAddress(iface: string): InterfaceAddress | null {
    return this.interfaces.get(iface) ?? null;
  }

  async open(dest: WakeDestination): Promise<WakeSender> {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = null;
      throw e;
    }
    return {
      send: async (mac) => {
        this.sent.push({ mac, bytes: magicPacket(mac), dest, at: this.now() });
      },
      close: async () => undefined,
    };
  }
}
