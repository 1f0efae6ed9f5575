import { renderDnsmasqConf } from './dnsmasq-config.js';
import type { Dnsmasq, DnsmasqConfig, DnsmasqEvent, DnsmasqStatus } from './dnsmasq.adapter.js';

/** Records the configurations applied; emit() plays DHCP/TFTP events as if dnsmasq had logged them. */
export class FakeDnsmasq implements Dnsmasq {
  readonly applied: Array<DnsmasqConfig | null> = [];
  readonly files = {
    pid: '/run/ggnet-fake/dnsmasq.pid',
    leases: '/run/ggnet-fake/leases',
    hosts: '/run/ggnet-fake/hosts',
  };
  /** Rendered text of the last configuration (rendering validates it like the real adapter). */
  text: string | null = null;
  restarts = 0;
  failWith: Error | null = null;
  private handler: (events: DnsmasqEvent[]) => Promise<void> = async () => undefined;
  private queued: DnsmasqEvent[] = [];

  async apply(config: DnsmasqConfig | null): Promise<void> {
    this.applied.push(config);
    if (this.failWith) throw this.failWith;
    const text = config ? renderDnsmasqConf(config) : null;
    if (text && this.text && text !== this.text) this.restarts++;
    this.text = text;
  }

  status(): DnsmasqStatus {
    return {
      state: this.text ? 'running' : 'off',
      pid: this.text ? 4242 : null,
      restarts: this.restarts,
      error: this.failWith?.message ?? null,
    };
  }

  get current(): DnsmasqConfig | null {
    return this.applied.at(-1) ?? null;
  }

  setEventHandler(handler: (events: DnsmasqEvent[]) => Promise<void>): void {
    this.handler = handler;
  }

  /** Queues events; they reach the handler on the next drain() (as the real log tail would). */
  emit(...events: DnsmasqEvent[]): void {
    this.queued.push(...events);
  }

  async drain(): Promise<void> {
    const events = this.queued;
    this.queued = [];
    if (events.length) await this.handler(events);
  }

  async stop(): Promise<void> {
    this.text = null;
  }
}
