import { tooManyRequests } from '../../errors/app-error.js';
import { RateLimiter } from './rate-limiter.js';

export interface LoginLimits {
  /** Login attempts per address and window; more get 429. */
  perIp: number;
  /** Failed logins of one user from one address per window; more from that address get 429. */
  perUser: number;
  /**
   * Failed logins of one user from all addresses per window after which that user's password checks
   * are spaced `slowdownMs` apart (never refused outright: the real user still gets in).
   */
  slowdownAfter: number;
  slowdownMs: number;
  windowSec: number;
}

/** How many logins of one user may wait for their turn while that user is slowed down. */
export const MAX_WAITING = 10;
/** Addresses a user logged in from, remembered per user (most recent first). */
const KNOWN_ADDRESSES = 16;

interface Waiter {
  priority: number;
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The password checks of one user, one every `intervalMs`. Waiting logins go in order of priority
 * (an address this user logged in from before first, then addresses with fewer failures), so a
 * flood of guesses from elsewhere delays the real user by about one interval, never locks them out.
 * At most MAX_WAITING wait; when full, the worst waiter (or the newcomer, if it is no better) gets 429.
 */
class Lane {
  private next = 0;
  private seq = 0;
  private readonly waiting: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly onIdle: () => void,
  ) {}

  get idle(): boolean {
    return this.waiting.length === 0 && this.timer === null && this.now() >= this.next;
  }

  turn(priority: number): Promise<void> {
    const t = this.now();
    if (this.waiting.length === 0 && this.timer === null && t >= this.next) {
      this.next = t + this.intervalMs;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { priority, seq: this.seq++, resolve, reject };
      if (this.waiting.length >= MAX_WAITING) {
        const worst = this.waiting.reduce((a, b) => (worse(b, a) ? b : a));
        const busy = () =>
          tooManyRequests(
            'too many login attempts for this user right now',
            Math.max(1, Math.ceil((MAX_WAITING * this.intervalMs) / 1000)),
          );
        if (!worse(worst, w)) return reject(busy());
        this.waiting.splice(this.waiting.indexOf(worst), 1);
        worst.reject(busy());
      }
      this.waiting.push(w);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.waiting.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        const best = this.waiting.reduce((a, b) => (worse(a, b) ? b : a));
        this.waiting.splice(this.waiting.indexOf(best), 1);
        this.next = this.now() + this.intervalMs;
        best.resolve();
        if (this.waiting.length) this.schedule();
        else this.onIdle();
      },
      Math.max(0, this.next - this.now()),
    );
  }
}

/** True when `a` should wait longer than `b`. */
const worse = (a: Waiter, b: Waiter) =>
  a.priority > b.priority || (a.priority === b.priority && a.seq > b.seq);

/**
 * Login brute-force limits that a stranger cannot turn against the account they attack:
 * - per address: `perIp` attempts per window (429 for that address only);
 * - per user and address: `perUser` failures per window (429 for that user from that address only:
 *   five wrong passwords from the attacker's PC do not lock the admin out of their own);
 * - per user, all addresses: after `slowdownAfter` failures in the window the user's password checks
 *   run one every `slowdownMs` (at most 60 000 / slowdownMs guesses a minute, from any number of
 *   addresses), the user's known addresses first. Slowed down, never locked out.
 * In memory: one GGnet process serves the API; a restart resets the windows.
 */
export class LoginGuard {
  private readonly ip: RateLimiter;
  private readonly pair: RateLimiter;
  private readonly user: RateLimiter;
  private readonly lanes = new Map<string, Lane>();
  private readonly known = new Map<string, string[]>();

  constructor(
    private readonly limits: LoginLimits,
    private readonly now: () => number = Date.now,
  ) {
    const windowMs = limits.windowSec * 1000;
    this.ip = new RateLimiter(limits.perIp, windowMs, now);
    this.pair = new RateLimiter(limits.perUser, windowMs, now);
    this.user = new RateLimiter(limits.slowdownAfter, windowMs, now);
  }

  /** Throws 429 when this address, or this user from this address, has had too many tries. */
  admit(user: string, ip: string): void {
    const wait = Math.max(this.ip.retryAfter(ip), this.pair.retryAfter(pairKey(user, ip)));
    if (wait > 0) throw tooManyRequests('too many login attempts', wait);
    this.ip.hit(ip);
  }

  /** Resolves when this login may check its password (at once unless the user is under attack). */
  turn(user: string, ip: string): Promise<void> {
    if (this.user.count(user) < this.limits.slowdownAfter) return Promise.resolve();
    let lane = this.lanes.get(user);
    if (!lane) {
      lane = new Lane(this.limits.slowdownMs, this.now, () => {
        if (this.lanes.get(user)?.idle) this.lanes.delete(user);
      });
      this.lanes.set(user, lane);
      if (this.lanes.size > 10_000) for (const [k, l] of this.lanes) if (l.idle) this.lanes.delete(k);
    }
    const priority = this.known.get(user)?.includes(ip) ? -1 : this.pair.count(pairKey(user, ip));
    return lane.turn(priority);
  }

  failed(user: string, ip: string): void {
    this.pair.hit(pairKey(user, ip));
    this.user.hit(user);
  }

  succeeded(user: string, ip: string): void {
    this.pair.reset(pairKey(user, ip));
    const list = [ip, ...(this.known.get(user) ?? []).filter((a) => a !== ip)].slice(0, KNOWN_ADDRESSES);
    this.known.set(user, list);
    if (this.known.size > 10_000) this.known.delete(this.known.keys().next().value!);
  }
}

const pairKey = (user: string, ip: string) => `${user}\u0000${ip}`;
