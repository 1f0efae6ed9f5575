import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';

/** A free TCP port on loopback (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ port: 0, host: '127.0.0.1' }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** tgtd's management socket for a control port (tgt's fixed path; its lock file is `<socket>.lock`). */
export const tgtSocket = (controlPort: number): string => `/var/run/tgtd/socket.${controlPort}`;

/** A tgtd control port nobody uses (its management socket is a path, not a TCP port). */
export function freeControlPort(): number {
  for (;;) {
    const p = 10000 + Math.floor(Math.random() * 22000);
    if (!existsSync(tgtSocket(p)) && !existsSync(`${tgtSocket(p)}.lock`)) return p;
  }
}

/** Removes a tgtd's socket files once that tgtd is gone (tgtd leaves them behind when killed). */
export function removeTgtSocket(controlPort: number): void {
  for (const f of ['', '.lock']) rmSync(`${tgtSocket(controlPort)}${f}`, { force: true });
}

/** Nothing listens on 127.0.0.1:port now. */
function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * Ports for `daemons` tgtd instances (GGnet's iscsi.daemons): daemon i has control port
 * `controlPort + i` and portal port `portalPort + i`, all free now.
 */
export async function freeDaemonPorts(daemons = 1): Promise<{ portalPort: number; controlPort: number }> {
  for (let tries = 0; ; tries++) {
    const portalPort = await freePort();
    const controlPort = freeControlPort();
    const rest = Array.from({ length: daemons - 1 }, (_, i) => i + 1);
    const portals = await Promise.all(rest.map((i) => tcpFree(portalPort + i)));
    const controls = rest.map((i) => !existsSync(`${tgtSocket(controlPort + i)}.lock`));
    if ((portals.every(Boolean) && controls.every(Boolean)) || tries >= 50)
      return { portalPort, controlPort };
  }
}
