/**
 * The console VM's VNC WebSocket as the "raw channel" noVNC accepts (send, close, binaryType,
 * onopen, onmessage, onerror, onclose, protocol, readyState): it authenticates with the first
 * message (the token stays out of URLs and logs), waits for the server's `{"type":"ready"}`, and
 * holds back the RFB bytes that arrive before noVNC has attached its handler.
 */
export class VncChannel {
  private held: MessageEvent[] = [];
  private handler: ((e: MessageEvent) => void) | null = null;
  onopen: ((e: Event) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;

  constructor(
    private readonly ws: WebSocket,
    token: string,
    events: {
      ready: (ch: VncChannel) => void;
      refused: (code: string, detail: string) => void;
      closed: (code: number) => void;
    },
  ) {
    ws.binaryType = 'arraybuffer';
    let ready = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
    ws.onmessage = (e: MessageEvent) => {
      if (!ready) {
        let msg: { type?: string; code?: string; detail?: string } = {};
        try {
          msg = JSON.parse(String(e.data)) as typeof msg;
        } catch {
          /* not JSON: ignored */
        }
        if (msg.type === 'ready') {
          ready = true;
          events.ready(this);
        } else if (msg.type === 'error') events.refused(msg.code ?? 'error', msg.detail ?? '');
        return;
      }
      if (typeof e.data === 'string') return; // status text after the start: not RFB
      if (this.handler) this.handler(e);
      else this.held.push(e);
    };
    ws.onerror = (e) => this.onerror?.(e);
    ws.onclose = (e) => {
      this.onclose?.(e);
      events.closed(e.code);
    };
  }

  get onmessage(): ((e: MessageEvent) => void) | null {
    return this.handler;
  }
  set onmessage(fn: ((e: MessageEvent) => void) | null) {
    this.handler = fn;
    if (fn) for (const e of this.held.splice(0)) fn(e);
  }
  get binaryType(): BinaryType {
    return this.ws.binaryType;
  }
  set binaryType(t: BinaryType) {
    this.ws.binaryType = t;
  }
  get protocol(): string {
    return this.ws.protocol;
  }
  get readyState(): number {
    return this.ws.readyState;
  }
  send(data: ArrayBufferLike | ArrayBufferView | Blob | string): void {
    this.ws.send(data);
  }
  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}
