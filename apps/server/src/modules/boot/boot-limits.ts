import type { Settings } from '@ggnet/contracts';
import type { Counter } from 'prom-client';
import type { Logger } from 'pino';
import { KeyedRateLimiter, OncePerInterval, type Clock, type RateLimit } from '../../lib/rate-limiter.js';
import { waitScript } from './ipxe-script.js';

/** A limited key is logged once per this interval (with the number of requests refused since). */
const LOG_INTERVAL_MS = 60_000;

export type BootLimitDecision = { ok: true } | { ok: false; key: 'mac' | 'address'; retryAfterSec: number };

export interface BootRateLimitsDeps {
  settings: { get(): Promise<Settings> };
  log: Logger;
  /** `ggnet_boot_rate_limited_total{key}` */
  counter?: Counter<'key'>;
  now?: Clock;
}

/**
 * Rate limits of the unauthenticated boot endpoint (/boot/*), per MAC and per client address
 * (boot.macRequestsPerMin / macBurst, boot.addressRequestsPerMin / addressBurst). The defaults are
 * twice what a PC asks at most: while its disk is prepared or it waits for approval it asks every
 * 2 s (boot.pendingRetrySec is at least 2, "preparing" answers wait 2 s), after the request itself
 * waited up to 15 s; a boot menu, a PIN prompt and an identify round trip add a few requests. A
 * 200-PC boot storm is 200 keys that each stay far below their own limit.
 */
export class BootRateLimits {
  private readonly now: Clock;
  private readonly byMac: KeyedRateLimiter;
  private readonly byAddress: KeyedRateLimiter;
  private readonly logged: OncePerInterval;

  constructor(private readonly d: BootRateLimitsDeps) {
    this.now = d.now ?? Date.now;
    this.byMac = new KeyedRateLimiter(this.now);
    this.byAddress = new KeyedRateLimiter(this.now);
    this.logged = new OncePerInterval(LOG_INTERVAL_MS, this.now);
  }

  /** Counts one request of this client; refuses it when the address or the MAC is over its limit. */
  async check(mac: string | null, ip: string): Promise<BootLimitDecision> {
    const b = (await this.d.settings.get()).boot;
    const address: RateLimit = { burst: b.addressBurst, perMinute: b.addressRequestsPerMin };
    const perMac: RateLimit = { burst: b.macBurst, perMinute: b.macRequestsPerMin };
    const a = this.byAddress.take(ip, address);
    if (!a.ok) return this.refused('address', ip, { ip, mac }, a.retryAfterMs);
    if (mac) {
      const m = this.byMac.take(mac, perMac);
      if (!m.ok) return this.refused('mac', mac, { ip, mac }, m.retryAfterMs);
    }
    return { ok: true };
  }

  private refused(
    key: 'mac' | 'address',
    value: string,
    client: { ip: string; mac: string | null },
    retryAfterMs: number,
  ): BootLimitDecision {
    this.d.counter?.inc({ key });
    const suppressed = this.logged.due(`${key}:${value}`);
    if (suppressed !== null) {
      this.d.log.warn(
        { key, ...client, refusedSinceLastLog: suppressed + 1, retryAfterMs },
        `boot requests rate-limited per ${key}`,
      );
    }
    return { ok: false, key, retryAfterSec: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
  }
}

/**
 * What a rate-limited iPXE gets: a 200 with a script that waits and asks again (iPXE shows a 429
 * as a bare error and its script stops there). The menu's choice goes along; a PIN never does.
 */
export function limitedScript(baseUrl: string, retryAfterSec: number, mode?: string): string {
  return waitScript({
    baseUrl,
    title: 'too many requests from this PC',
    lines: ['GGnet limits how often one PC may ask for its boot script.'],
    retrySec: retryAfterSec,
    query: mode ? { mode } : {},
  });
}
