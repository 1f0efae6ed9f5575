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
