import { connect, type Socket } from 'node:net';

/** A QMP error answer (`{"error": {"class", "desc"}}`). */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super(`QMP ${command}: ${desc}`);
    this.name = 'QmpError';
  }
}

/**
 * One QMP connection to a qemu-storage-daemon's monitor socket: greeting, `qmp_capabilities`, then
 * commands one at a time (QMP answers in order; events in between are skipped). JSON over a unix
 * socket: nothing reaches a shell, and every argument is a JSON value, never text to be parsed.
 */
export class QmpConnection {
  private buf = '';
  private waiting: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string }> = [];
  private closed: Error | null = null;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    const fail = (err: Error) => {
      this.closed ??= err;
      for (const w of this.waiting.splice(0)) w.reject(err);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('QMP connection closed')));
  }

  static async open(path: string, timeoutMs = 5000): Promise<QmpConnection> {
    const sock = connect(path);
    const conn = new QmpConnection(sock);
    const timer = setTimeout(
      () => sock.destroy(new Error(`QMP ${path}: no greeting in ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      // the greeting is the first answer-like line: wait for it, then negotiate
      await new Promise<unknown>((resolve, reject) =>
        conn.waiting.push({ resolve, reject, cmd: 'greeting' }),
      );
      await conn.execute('qmp_capabilities');
    } catch (err) {
      sock.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return conn;
  }

  private onData(d: string): void {
    // the buffer holds no newline before this chunk: only the chunk is searched (a large answer comes
    // in many chunks, and searching it all again for each was quadratic)
    let from = this.buf.length;
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n', from)) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      from = 0;
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if ('event' in msg) continue;
      const w = this.waiting.shift();
      if (!w) continue;
      if ('QMP' in msg) w.resolve(msg.QMP);
      else if ('error' in msg) {
        const e = msg.error as { class?: string; desc?: string };
        w.reject(new QmpError(w.cmd, e.class ?? 'GenericError', e.desc ?? 'error'));
      } else w.resolve(msg.return);
    }
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ resolve: resolve as (v: unknown) => void, reject, cmd: command });
      this.sock.write(
        `${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`,
      );
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}
