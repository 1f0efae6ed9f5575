import { describe, expect, it, vi } from 'vitest';
import type { LiveEvent } from '@ggnet/contracts';
import type { AuthStore } from '../api/auth-store';
import { LiveConnection } from './live-connection';

class FakeSocket {
  static all: FakeSocket[] = [];
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  closed = false;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(s: string) {
    this.sent.push(s);
  }
  close() {
    this.closed = true;
  }
  serverSays(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function fakeAuth(tokens: string[]) {
  let i = 0;
  const refresh = vi.fn(async () => {
    i++;
    return tokens[i] ? { accessToken: tokens[i] } : null;
  });
  const store = { accessToken: vi.fn(async () => tokens[i] ?? null), refresh } as unknown as AuthStore;
  return Object.assign(store, { refreshSpy: refresh });
}

describe('LiveConnection', () => {
  it('authenticates with the first message, reports live on ready, forwards events', async () => {
    FakeSocket.all = [];
    const events: LiveEvent[] = [];
    const ready = vi.fn();
    const conn = new LiveConnection({
      auth: fakeAuth(['t1']),
      url: 'ws://x/api/v1/events',
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      onEvent: (e) => events.push(e),
      onReady: ready,
    });
    const statuses: string[] = [];
    conn.onStatus((s) => statuses.push(s));
    conn.start();
    await flush();
    const ws = FakeSocket.all[0]!;
    expect(ws.url).toBe('ws://x/api/v1/events'); // no token in the URL
    ws.onopen!();
    expect(JSON.parse(ws.sent[0]!)).toEqual({ type: 'auth', token: 't1' });
    ws.serverSays({ type: 'ready', user: {} });
    ws.serverSays({ type: 'machine.updated', id: 'm1', data: { id: 'm1' } });
    expect(statuses).toEqual(['connecting', 'live']);
    expect(ready).toHaveBeenCalledTimes(1);
    expect(events).toEqual([{ type: 'machine.updated', id: 'm1', data: { id: 'm1' } }]);
    conn.stop();
    expect(ws.closed).toBe(true);
    expect(conn.status).toBe('offline');
  });

  it('refreshes the token and reconnects when the server refuses it (4401)', async () => {
    FakeSocket.all = [];
    vi.useFakeTimers();
    const auth = fakeAuth(['expired', 'fresh']);
    const conn = new LiveConnection({
      auth,
      url: 'ws://x',
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      onEvent: () => undefined,
    });
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    const first = FakeSocket.all[0]!;
    first.onopen!();
    first.serverSays({ type: 'error', code: 'unauthorized', detail: 'access token has expired' });
    first.onclose!({ code: 4401 });
    await vi.advanceTimersByTimeAsync(10);
    expect(auth.refreshSpy).toHaveBeenCalledTimes(1);
    const second = FakeSocket.all[1]!;
    second.onopen!();
    expect(JSON.parse(second.sent[0]!).token).toBe('fresh');
    conn.stop();
    vi.useRealTimers();
  });

  it('reconnects with backoff after a dropped connection', async () => {
    FakeSocket.all = [];
    vi.useFakeTimers();
    const conn = new LiveConnection({
      auth: fakeAuth(['t']),
      url: 'ws://x',
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      onEvent: () => undefined,
    });
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.all[0]!.onclose!({ code: 1006 });
    expect(conn.status).toBe('offline');
    await vi.advanceTimersByTimeAsync(400);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(FakeSocket.all).toHaveLength(2);
    conn.stop();
    vi.useRealTimers();
  });
});
