import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QmpConnection } from './qmp.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A QMP monitor on a unix socket that answers like qemu-storage-daemon (greeting, capabilities,
 * query-version, query-block-exports), counts connections, and sends its answers in small chunks
 * (as a large answer arrives from the kernel).
 */
function fakeMonitor(path: string) {
  const state = { connections: 0, sockets: [] as Socket[] };
  const server: Server = createServer((sock) => {
    state.connections++;
    state.sockets.push(sock);
    const send = (obj: unknown) => {
      const text = `${JSON.stringify(obj)}\n`;
      for (let i = 0; i < text.length; i += 7) sock.write(text.slice(i, i + 7));
    };
    send({ QMP: { version: { qemu: { major: 10, minor: 0, micro: 13 } }, capabilities: [] } });
    send({ event: 'JOB_STATUS_CHANGE', data: {} });
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const cmd = JSON.parse(buf.slice(0, nl)) as { execute: string };
        buf = buf.slice(nl + 1);
        if (cmd.execute === 'query-version') send({ return: { qemu: { major: 10, minor: 0, micro: 13 } } });
        else if (cmd.execute === 'query-block-exports')
          send({ return: [{ id: 'wb-00000000-0000-4000-8000-000000000001', type: 'fuse' }] });
        else send({ return: {} });
      }
    });
    sock.on('error', () => undefined);
  });
  server.listen(path);
  cleanups.push(
    () =>
      new Promise<void>((ok) => {
        for (const s of state.sockets) s.destroy();
        server.close(() => ok());
      }),
  );
  return state;
}

describe('QmpConnection', () => {
  it('puts answers together that arrive a few bytes at a time, in order, skipping events', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-qmp-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'qmp.sock');
    const mon = fakeMonitor(socketPath);
    const q = await QmpConnection.open(socketPath);
    cleanups.push(() => q.close());
    const [v, e] = await Promise.all([
      q.execute<{ qemu: { major: number } }>('query-version'),
      q.execute<Array<{ id: string }>>('query-block-exports'),
    ]);
    expect(v.qemu.major).toBe(10);
    expect(e).toEqual([{ id: 'wb-00000000-0000-4000-8000-000000000001', type: 'fuse' }]);
    expect(mon.connections).toBe(1);
  });
});
