import { describe, expect, it, vi } from 'vitest';
import { VncChannel } from './vnc-channel';

/** A WebSocket stand-in: what the channel sends, and messages the test delivers. */
class FakeSocket {
  binaryType: BinaryType = 'blob';
  protocol = '';
  readyState = 1;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;
  send(d: unknown) {
    this.sent.push(d);
  }
  close() {
    this.onclose?.({ code: 1000 } as CloseEvent);
  }
  deliver(data: unknown) {
    this.onmessage?.({ data } as MessageEvent);
  }
}

describe('VncChannel', () => {
  it('authenticates with the first message, then hands RFB bytes to noVNC, also those that came early', () => {
    const ws = new FakeSocket();
    const ready = vi.fn();
    const ch = new VncChannel(ws as unknown as WebSocket, 'tok', {
      ready,
      refused: vi.fn(),
      closed: vi.fn(),
    });
    expect(ws.binaryType).toBe('arraybuffer');
    ws.onopen!();
    expect(ws.sent).toEqual([JSON.stringify({ type: 'auth', token: 'tok' })]);
    ws.deliver('{"type":"ready"}');
    expect(ready).toHaveBeenCalledWith(ch);
    const early = new Uint8Array([82, 70, 66]).buffer;
    ws.deliver(early); // before noVNC attached its handler
    const got: unknown[] = [];
    ch.onmessage = (e) => got.push(e.data);
    const later = new Uint8Array([1]).buffer;
    ws.deliver(later);
    expect(got).toEqual([early, later]);
    ch.send(new Uint8Array([9]));
    expect(ws.sent).toHaveLength(2);
    // the properties noVNC checks on a raw channel
    const props = [...Object.keys(ch), ...Object.getOwnPropertyNames(Object.getPrototypeOf(ch))];
    for (const p of [
      'send',
      'close',
      'binaryType',
      'onerror',
      'onmessage',
      'onopen',
      'protocol',
      'readyState',
    ])
      expect(props).toContain(p);
    expect(ch.readyState).toBe(1);
  });

  it('reports a refusal with its code and never starts RFB', () => {
    const ws = new FakeSocket();
    const ready = vi.fn();
    const refused = vi.fn();
    const closed = vi.fn();
    new VncChannel(ws as unknown as WebSocket, 'tok', { ready, refused, closed });
    ws.deliver('{"type":"error","code":"forbidden","detail":"the console of a VM needs the operator role"}');
    ws.close();
    expect(refused).toHaveBeenCalledWith('forbidden', 'the console of a VM needs the operator role');
    expect(ready).not.toHaveBeenCalled();
    expect(closed).toHaveBeenCalledWith(1000);
  });
});
