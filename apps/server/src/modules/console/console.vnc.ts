import { connect, type Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { CONSOLE_CLOSE, EventsAuth } from '@ggnet/contracts';
import { AppError } from '../../errors/app-error.js';
import { roleAtLeast, type AuthService, type VerifiedToken } from '../auth/auth.service.js';
import type { ConsoleService } from './console.service.js';

/** Close code that asks the console to refresh its token and reconnect (as on the events socket). */
const CLOSE_AUTH = 4401;
/** How often an open console checks its token's user again (role changes, disabled users, logouts). */
const RECHECK_MS = 10_000;
/** Above this many bytes waiting for the browser, the VNC socket is paused. */
const HIGH_WATER = 4 * 1024 * 1024;

/**
 * `GET /api/v1/images/{id}/console/vnc`: the VM's VNC server (a unix socket only QEMU and GGnet can
 * reach) relayed byte for byte over the WebSocket, for operators. Authentication as on the events
 * socket: `?token=` or a first message `{"type":"auth","token":"..."}` within 10 s; then a text
 * message `{"type":"ready"}`, and from there on binary messages carry RFB both ways. A viewer is
 * refused (4403), a VM that does not run closes the socket (4404); a change of the user or the login
 * (role, disabled, logged out) ends the socket (4401).
 */
export function proxyVnc(
  ws: WebSocket,
  imageId: string,
  queryToken: string | undefined,
  deps: { console: ConsoleService; auth: AuthService },
): void {
  let closed = false;
  let authed: { token: string; v: VerifiedToken } | null = null;
  let vnc: Socket | null = null;
  const cleanups: Array<() => void> = [];

  const sendText = (m: object) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };
  const end = (code: number, errCode: string, detail: string) => {
    if (closed) return;
    closed = true;
    sendText({ type: 'error', code: errCode, detail });
    ws.close(code, detail.slice(0, 100));
    vnc?.destroy();
    for (const c of cleanups.splice(0)) c();
  };

  const attach = async (token: string, v: VerifiedToken) => {
    if (closed || authed) return;
    authed = { token, v };
    clearTimeout(authTimer);
    if (!roleAtLeast(v.user.role, 'operator'))
      return end(CONSOLE_CLOSE.forbidden, 'forbidden', 'the console of a VM needs the operator role');
    let path: string;
    try {
      path = await deps.console.vncSocket(imageId);
    } catch (err) {
      return end(
        CONSOLE_CLOSE.noVm,
        err instanceof AppError ? err.code : 'console_not_running',
        (err as Error).message,
      );
    }
    if (closed) return;
    const s = connect(path);
    vnc = s;
    s.once('connect', () => {
      sendText({ type: 'ready' });
      s.on('data', (chunk: Buffer) => {
        if (ws.readyState !== ws.OPEN) return;
        ws.send(chunk, { binary: true });
        if (ws.bufferedAmount > HIGH_WATER) {
          s.pause();
          const resume = setInterval(() => {
            if (ws.bufferedAmount < HIGH_WATER / 4 || ws.readyState !== ws.OPEN) {
              clearInterval(resume);
              s.resume();
            }
          }, 20);
          cleanups.push(() => clearInterval(resume));
        }
      });
    });
    s.on('error', (err) => end(CONSOLE_CLOSE.noVm, 'console_not_running', `VNC: ${err.message}`));
    s.on('close', () => end(1000, 'console_closed', 'the VM closed its screen (powered off?)'));
    // the user or the login changed: check the token again, end the console if it no longer holds
    const recheck = () =>
      deps.auth.verify(token).then(
        (nv) => {
          if (!roleAtLeast(nv.user.role, 'operator'))
            end(CLOSE_AUTH, 'role_changed', `your role is now ${nv.user.role}`);
        },
        (err: unknown) =>
          end(CLOSE_AUTH, err instanceof AppError ? err.code : 'unauthorized', (err as Error).message),
      );
    cleanups.push(
      deps.auth.watch((c) => {
        if (c.userId === v.user.id || c.familyId === v.familyId) void recheck();
      }),
    );
    const periodic = setInterval(() => void recheck(), RECHECK_MS);
    cleanups.push(() => clearInterval(periodic));
  };

  const authenticate = (token: string) =>
    deps.auth.verify(token).then(
      (v) => attach(token, v),
      (err: unknown) =>
        end(CLOSE_AUTH, err instanceof AppError ? err.code : 'unauthorized', (err as Error).message),
    );

  const authTimer = setTimeout(() => end(CLOSE_AUTH, 'unauthorized', 'no token within 10 s'), 10_000);
  ws.on('close', () => {
    closed = true;
    clearTimeout(authTimer);
    vnc?.destroy();
    for (const c of cleanups.splice(0)) c();
  });
  ws.on('message', (raw: Buffer, isBinary: boolean) => {
    if (authed) {
      if (isBinary && vnc && !vnc.destroyed) vnc.write(raw);
      return;
    }
    if (queryToken) return; // authenticating with the query's token; nothing else is read before
    let msg: unknown;
    try {
      msg = JSON.parse(raw.toString('utf8'));
    } catch {
      return end(CLOSE_AUTH, 'unauthorized', 'first message must be JSON {"type":"auth","token":"..."}');
    }
    const parsed = EventsAuth.safeParse(msg);
    if (!parsed.success)
      return end(CLOSE_AUTH, 'unauthorized', 'first message must be {"type":"auth","token":"..."}');
    // stop reading further messages as auth attempts while this one is verified
    authed = null;
    queryToken = parsed.data.token;
    void authenticate(parsed.data.token);
  });
  if (queryToken) void authenticate(queryToken);
}
