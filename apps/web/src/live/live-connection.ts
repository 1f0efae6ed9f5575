import type { LiveEvent } from '@ggnet/contracts';
import type { AuthStore } from '../api/auth-store';

export type LiveStatus = 'connecting' | 'live' | 'offline';

export interface LiveConnectionDeps {
  auth: AuthStore;
  url: string;
  WebSocketImpl?: typeof WebSocket;
  onEvent: (e: LiveEvent) => void;
  /** Called after every (re)subscription: events may have been missed meanwhile. */
  onReady?: () => void;
}

/**
 * The events WebSocket: authenticates with the first message (the token stays out of URLs and
 * logs), reconnects with backoff, and refreshes the access token when the server refuses it.
 */
export class LiveConnection {
  private ws: WebSocket | null = null;
  private retry = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  status: LiveStatus = 'offline';
  private readonly listeners = new Set<(s: LiveStatus) => void>();

  constructor(private readonly deps: LiveConnectionDeps) {}

  onStatus(fn: (s: LiveStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private setStatus(s: LiveStatus) {
    if (this.status === s) return;
    this.status = s;
    for (const l of this.listeners) l(s);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, 'logout');
    this.setStatus('offline');
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.setStatus('connecting');
    let token: string | null;
    try {
      token = await this.deps.auth.accessToken();
    } catch {
      return this.schedule();
    }
    if (!token || this.stopped) return this.stop();
    const WS = this.deps.WebSocketImpl ?? WebSocket;
    const ws = new WS(this.deps.url);
    this.ws = ws;
    let authFailed = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
    ws.onmessage = (m: MessageEvent) => {
      let msg: { type?: string; code?: string } & Partial<LiveEvent>;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (msg.type === 'ready') {
        this.retry = 0;
        this.setStatus('live');
        this.deps.onReady?.();
      } else if (msg.type === 'error') {
        authFailed = msg.code === 'unauthorized';
      } else if (typeof msg.type === 'string' && typeof msg.id === 'string') {
        this.deps.onEvent(msg as LiveEvent);
      }
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.setStatus('offline');
      if (ev.code === 4401 || authFailed) {
        // the token expired between fetch and connect: rotate it, then reconnect
        this.deps.auth.refresh().then(
          (s) => (s ? this.schedule(0) : this.stop()),
          () => this.schedule(),
        );
        return;
      }
      this.schedule();
    };
  }

  private schedule(ms?: number): void {
    if (this.stopped) return;
    const delay = ms ?? Math.min(15_000, 500 * 2 ** this.retry++);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.open();
    }, delay);
  }
}
