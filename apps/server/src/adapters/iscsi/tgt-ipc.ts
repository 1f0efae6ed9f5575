import { connect } from 'node:net';

/**
 * tgtd's management protocol, spoken directly on its unix socket (what `tgtadm` does), so that a
 * session start does not fork a process per step: forking a large Node process costs milliseconds
 * per call (tens of milliseconds at a few hundred MB resident). Layout of tgt 1.0.x (Debian 12:
 * 1.0.85), taken from what tgtadm writes (see tgt-ipc.test.ts for the captured bytes):
 *
 *   request (120 bytes, little endian) + params text with a trailing NUL
 *     0 mode u32 | 4 op u32 | 8 lld char[64] | 72 len u32 (whole message) | 76 tid i32
 *    80 sid u64 | 88 lun u64 | 96 cid u32 | 100 host_no u32 | 104 device_type u32
 *   108 ac_dir u32 | 112 pack u32 | 116 force u32
 *   response: err u32 | len u32 (including these 8 bytes) | text
 *
 * The driver checks the protocol against the daemon once (a `show sys` must answer as expected) and
 * falls back to tgtadm otherwise.
 */
export const TGT_MODE = { system: 0, target: 1, device: 2, portal: 3, connection: 6, account: 7 } as const;
export const TGT_OP = { new: 0, delete: 1, show: 2, bind: 3, unbind: 4, update: 5, stats: 6 } as const;

export interface TgtIpcRequest {
  mode: number;
  op: number;
  /** Low-level driver; empty for system requests. */
  lld?: string;
  tid?: number;
  sid?: number;
  lun?: number;
  cid?: number;
  /** 1 = outgoing account (mutual CHAP). */
  acDir?: number;
  force?: boolean;
  params?: string;
}

const HEADER = 120;
const UNSET64 = 0xffffffffffffffffn;

export function encodeTgtRequest(r: TgtIpcRequest): Buffer {
  const params = r.params !== undefined ? Buffer.from(`${r.params}\0`, 'utf8') : Buffer.alloc(0);
  const b = Buffer.alloc(HEADER + params.length);
  b.writeUInt32LE(r.mode, 0);
  b.writeUInt32LE(r.op, 4);
  const lld = r.lld ?? '';
  if (Buffer.byteLength(lld) > 63) throw new Error('lld name too long');
  b.write(lld, 8, 'utf8');
  b.writeUInt32LE(b.length, 72);
  b.writeInt32LE(r.tid ?? -1, 76);
  b.writeBigUInt64LE(BigInt(r.sid ?? 0), 80);
  b.writeBigUInt64LE(r.lun === undefined ? UNSET64 : BigInt(r.lun), 88);
  b.writeUInt32LE(r.cid ?? 0, 96);
  b.writeUInt32LE(0, 100);
  b.writeUInt32LE(0, 104);
  b.writeUInt32LE(r.acDir ?? 0, 108);
  b.writeUInt32LE(0, 112);
  b.writeUInt32LE(r.force ? 1 : 0, 116);
  params.copy(b, HEADER);
  return b;
}

/**
 * tgtadm's wording for tgtd's error numbers in 1.0.85 (checked against the daemon: a duplicate target
 * answers 9, a duplicate ACL 12, a duplicate account 14, a missing account 15, a bad backing file 17).
 */
export const TGT_ERRORS: Record<number, string> = {
  1: 'unknown error',
  2: 'out of memory',
  3: "can't find the driver",
  4: "can't find the target",
  5: "can't find the logical unit",
  6: "can't find the session",
  7: "can't find the connection",
  8: "can't find the binding",
  9: 'this target already exists',
  10: 'this binding already exists',
  11: 'this logical unit number already exists',
  12: 'this access control rule already exists',
  13: 'this access control rule does not exist',
  14: 'this account already exists',
  15: "can't find the account",
  16: 'too many accounts',
  17: 'invalid request',
  18: 'this target already has an outgoing account',
  19: 'this target is still active',
  20: 'this logical unit is still active',
  21: 'this driver is busy',
  22: "this operation isn't supported",
  23: 'unknown parameter',
  24: 'this device has Prevent Removal set',
};

export class TgtIpcError extends Error {
  constructor(
    readonly code: number,
    readonly request: TgtIpcRequest,
  ) {
    super(`tgtd: ${TGT_ERRORS[code] ?? `error ${code}`}`);
    this.name = 'TgtIpcError';
  }
}

/**
 * Connections GGnet keeps open to one tgtd at a time. tgtd answers one management request after the
 * other and listens with a backlog of 32: a boot storm that connects hundreds of times at once got
 * EAGAIN for most of them (bench/boot-storm.bench.ts). Queued here instead, requests are answered in
 * order and none fails; a few in flight keep tgtd busy without a gap.
 */
export const TGT_IPC_MAX_CONNECTIONS = 8;
/** connect() retries when the backlog is full anyway (tgtadm or another process on the same tgtd). */
const EAGAIN_RETRIES = 50;

const slots = new Map<string, { busy: number; waiting: Array<() => void> }>();

async function withSlot<T>(socketPath: string, fn: () => Promise<T>): Promise<T> {
  let s = slots.get(socketPath);
  if (!s) {
    s = { busy: 0, waiting: [] };
    slots.set(socketPath, s);
  }
  const slot = s;
  if (slot.busy >= TGT_IPC_MAX_CONNECTIONS) await new Promise<void>((ok) => slot.waiting.push(ok));
  else slot.busy++;
  try {
    return await fn();
  } finally {
    // hand the slot straight to the next waiter (busy stays the same), or free it
    const next = slot.waiting.shift();
    if (next) next();
    else if (--slot.busy === 0) slots.delete(socketPath);
  }
}

/** One request on tgtd's management socket; resolves with the response text. */
export function tgtIpc(socketPath: string, r: TgtIpcRequest, timeoutMs = 10_000): Promise<string> {
  return withSlot(socketPath, async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await tgtIpcOnce(socketPath, r, timeoutMs);
      } catch (e) {
        const again = (e as NodeJS.ErrnoException).code === 'EAGAIN' && attempt < EAGAIN_RETRIES;
        if (!again) throw e;
        await new Promise((ok) => setTimeout(ok, 5 + attempt * 5));
      }
    }
  });
}

function tgtIpcOnce(socketPath: string, r: TgtIpcRequest, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const chunks: Buffer[] = [];
    let got = 0;
    let done = false;
    const finish = (err: Error | null, text?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(text ?? '');
    };
    const timer = setTimeout(
      () => finish(new Error(`tgtd did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.once('connect', () => sock.write(encodeTgtRequest(r)));
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got < 8) return;
      const all = Buffer.concat(chunks);
      const err = all.readUInt32LE(0);
      const len = all.readUInt32LE(4);
      if (len < 8 || len > 64 * 1024 * 1024) return finish(new Error(`tgtd: bad response length ${len}`));
      if (got < len) return;
      if (err !== 0) return finish(new TgtIpcError(err, r));
      finish(null, all.subarray(8, len).toString('utf8').replace(/\0+$/, ''));
    });
    sock.once('end', () => {
      if (!done) finish(new Error('tgtd closed the connection before answering'));
    });
    sock.once('error', (e) => finish(e));
  });
}
