import { ProcessError, type ProcessRunner } from '../process/process-runner.adapter.js';
import { TGT_MODE as M, TGT_OP as O, TgtIpcError, tgtIpc, type TgtIpcRequest } from './tgt-ipc.js';
import { tgtSocketPath } from './tgt-socket.js';
import {
  TargetExistsError,
  checkAddress,
  checkChap,
  checkIqn,
  checkPath,
  isIpv4,
  type ChapCredentials,
  type IscsiTargetDriver,
  type LiveConnection,
  type LiveTarget,
  type LunSpec,
} from './iscsi-target.adapter.js';

export interface TgtTarget extends LiveTarget {
  tid: number;
}

/**
 * Parses `tgtadm --lld iscsi --op show --mode target`:
 *   Target 1: iqn...
 *       I_T nexus information:
 *           I_T nexus: 4
 *               Initiator: iqn... alias: none
 *               Connection: 0
 *                   IP Address: 127.0.0.1
 *       LUN information:
 *           LUN: 1
 *               Backing store path: /path
 *       Account information:
 *           user
 *           mutual-user (outgoing)
 *       ACL information:
 *           iqn...
 */
export function parseTgtShow(text: string): TgtTarget[] {
  const out: TgtTarget[] = [];
  let t: TgtTarget | null = null;
  let section = '';
  let nexus: { sid: string; initiator: string } | null = null;
  let cid: string | null = null;
  let lun: number | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const head = /^Target (\d+): (\S+)$/.exec(line);
    if (head && !raw.startsWith(' ')) {
      t = {
        tid: Number(head[1]),
        iqn: head[2]!,
        luns: [],
        initiators: [],
        addresses: [],
        chapUsers: [],
        mutualUser: null,
        connections: [],
      };
      out.push(t);
      section = '';
      continue;
    }
    if (!t) continue;
    if (/^(System|I_T nexus|LUN|Account|ACL) information:$/.test(line)) {
      section = line.split(' ')[0]!;
      nexus = null;
      cid = null;
      lun = null;
      continue;
    }
    if (section === 'I_T') {
      let m: RegExpExecArray | null;
      if ((m = /^I_T nexus: (\d+)$/.exec(line))) nexus = { sid: m[1]!, initiator: '' };
      else if ((m = /^Initiator: (\S+)/.exec(line)) && nexus) nexus.initiator = m[1]!;
      else if ((m = /^Connection: (\d+)$/.exec(line))) cid = m[1]!;
      else if ((m = /^IP Address: (\S+)$/.exec(line)) && nexus && cid !== null)
        t.connections.push({ initiator: nexus.initiator, address: m[1]!, sid: nexus.sid, cid });
    } else if (section === 'LUN') {
      let m: RegExpExecArray | null;
      if ((m = /^LUN: (\d+)$/.exec(line))) lun = Number(m[1]);
      else if ((m = /^Backing store path: (.+)$/.exec(line)) && lun !== null && m[1] !== 'None')
        t.luns.push({ lun, path: m[1]! });
    } else if (section === 'Account') {
      const m = /^(\S+)( \(outgoing\))?$/.exec(line);
      if (m) {
        if (m[2]) t.mutualUser = m[1]!;
        else t.chapUsers.push(m[1]!);
      }
    } else if (section === 'ACL') {
      // address ACLs are IPv4 addresses or CIDR ranges, everything else is an initiator name
      if (isIpv4(line.split('/')[0]!) || line === 'ALL') t.addresses.push(line);
      else t.initiators.push(line);
    }
  }
  return out;
}

/** `--op show --mode account`: "Account list:" and one user name per line. */
export function parseTgtAccounts(text: string): string[] {
  const out: string[] = [];
  let inList = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === 'Account list:') inList = true;
    else if (inList && line) out.push(line);
  }
  return out;
}

/**
 * `--op stat --mode conn`: a header line `sid cid rxdata_octets txdata_octets ...` and one line of
 * numbers; returns rxdata_octets (every byte the initiator sent, NOP-Out answers included).
 */
export function parseTgtConnRx(text: string): number | null {
  const lines = text.split('\n').map((l) => l.trim());
  const h = lines.findIndex((l) => /^sid cid rxdata_octets\b/.test(l));
  const row = h >= 0 ? lines[h + 1]?.split(/\s+/) : undefined;
  if (!row || row.length < 3 || !/^\d+$/.test(row[2]!)) return null;
  return Number(row[2]);
}

/** `Portal: 127.0.0.1:3260,1` lines of `--op show --mode portal`. */
export function parseTgtPortals(text: string): string[] {
  return [...text.matchAll(/^Portal: (\S+),\d+$/gm)].map((m) => m[1]!);
}

/** A tgtd error as tgtadm words it ("this target already exists"), from either transport. */
const message = (e: unknown) =>
  e instanceof ProcessError ? e.stderr : e instanceof TgtIpcError ? e.message : '';
const exists = (e: unknown) => /already exists/.test(message(e));
const notFound = (e: unknown) =>
  /can't find|not found|No such|doesn't exist|does not exist/i.test(message(e));

/** tgtadm's `--mode` words and tgtd's mode numbers (`sys` and `system` are the same mode). */
const MODES = {
  target: M.target,
  logicalunit: M.device,
  account: M.account,
  conn: M.connection,
  portal: M.portal,
  sys: M.system,
  system: M.system,
} as const;
/** tgtadm's `--op` words and tgtd's op numbers. */
const OPS = {
  new: O.new,
  delete: O.delete,
  show: O.show,
  bind: O.bind,
  unbind: O.unbind,
  update: O.update,
  stat: O.stats,
} as const;

/** A named parameter: `--<flag> <value>` for tgtadm, `<key>=<value>` in the socket request's text. */
interface TgtParam {
  flag: string;
  /** The request's key when it differs from the flag (tgtadm's `--backing-store` is `path=`). */
  key?: string;
  value: string;
  /** Never on a command line (a CHAP password: /proc/<pid>/cmdline is readable by every user). */
  secret?: boolean;
}

/**
 * One tgtadm operation, described once: tgtadm's argument list and tgtd's socket request are both
 * made from it (tgtadmArgs, tgtIpcRequest), the way tgtadm itself turns its options into a request.
 */
export interface TgtOp {
  mode: keyof typeof MODES;
  op: keyof typeof OPS;
  tid?: number;
  lun?: number;
  sid?: number;
  cid?: number;
  params?: TgtParam[];
  /**
   * tgtadm's free-form `--params`/`--param` text (`k=v,k=v`), which tgtd reads as `<prefix> <text>,`
   * (`targetOps` for a logical unit, `portalOps` for a portal).
   */
  options?: { flag: 'params' | 'param'; prefix: 'targetOps' | 'portalOps'; text: string };
  /** A target's session parameter (`--name <name> --value <value>`; on the socket `<name>=<value>`). */
  setting?: { name: string; value: string };
  /** `--force` (delete a target with live sessions). */
  force?: boolean;
  /** `--outgoing`: a mutual-CHAP account (tgtd's ac_dir 1); false = incoming (ac_dir 0). */
  outgoing?: boolean;
}

const LLD = 'iscsi';
const isSystem = (o: TgtOp) => o.mode === 'sys' || o.mode === 'system';

/** The socket form of an operation. */
export function tgtIpcRequest(o: TgtOp): TgtIpcRequest {
  const text = [
    ...(o.params ?? []).map((p) => `${p.key ?? p.flag}=${p.value}`),
    ...(o.setting ? [`${o.setting.name}=${o.setting.value}`] : []),
    ...(o.options ? [`${o.options.prefix} ${o.options.text},`] : []),
  ];
  return {
    mode: MODES[o.mode],
    op: OPS[o.op],
    ...(isSystem(o) ? {} : { lld: LLD }),
    ...(o.tid !== undefined ? { tid: o.tid } : {}),
    ...(o.lun !== undefined ? { lun: o.lun } : {}),
    ...(o.sid !== undefined ? { sid: o.sid } : {}),
    ...(o.cid !== undefined ? { cid: o.cid } : {}),
    ...(text.length ? { params: text.join(',') } : {}),
    ...(o.outgoing !== undefined ? { acDir: o.outgoing ? 1 : 0 } : {}),
    ...(o.force !== undefined ? { force: o.force } : {}),
  };
}

/** The tgtadm form of an operation (without `-C <port>`); null when it carries a secret. */
export function tgtadmArgs(o: TgtOp): string[] | null {
  if (o.params?.some((p) => p.secret)) return null;
  const ids = (['tid', 'lun', 'sid', 'cid'] as const).flatMap((k) =>
    o[k] !== undefined ? [`--${k}`, String(o[k])] : [],
  );
  return [
    ...(isSystem(o) ? [] : ['--lld', LLD]),
    ...['--op', o.op, '--mode', o.mode],
    ...ids,
    ...(o.params ?? []).flatMap((p) => [`--${p.flag}`, p.value]),
    ...(o.setting ? ['--name', o.setting.name, '--value', o.setting.value] : []),
    ...(o.options ? [`--${o.options.flag}`, o.options.text] : []),
    ...(o.force ? ['--force'] : []),
    ...(o.outgoing ? ['--outgoing'] : []),
  ];
}

/**
 * Session parameters GGnet gives every target it makes. tgt declares MaxRecvDataSegmentLength 8192 by
 * default, so initiators send their writes in 8 KiB PDUs (a 1 MiB write: 128 Data-Out PDUs, each a
 * receive and a header parse in tgtd); at 256 KiB (what Windows' and open-iscsi's initiators declare
 * for themselves) 8 clients writing 1 MiB requests through one tgtd on 2 cores went 1.6-1.65x faster
 * with about half of tgtd's CPU (bench/README "iscsi-read", --write). It only raises what tgtd accepts:
 * an initiator that keeps to smaller PDUs is served as before. Reads are sent in the PDU size the
 * initiator declares (MaxXmitDataSegmentLength in tgt), unchanged by this.
 */
export const TGT_TARGET_PARAMS: Readonly<Record<string, string>> = {
  MaxRecvDataSegmentLength: String(256 * 1024),
};

/** The operations GGnet uses, each described once. */
export const TGT_OPS = {
  showTargets: (): TgtOp => ({ mode: 'target', op: 'show' }),
  newTarget: (tid: number, iqn: string): TgtOp => ({
    mode: 'target',
    op: 'new',
    tid,
    params: [{ flag: 'targetname', value: iqn }],
  }),
  deleteTarget: (tid: number, force: boolean): TgtOp => ({ mode: 'target', op: 'delete', tid, force }),
  /** A session parameter of a target, e.g. MaxRecvDataSegmentLength (for the sessions that log in after). */
  updateTarget: (tid: number, name: string, value: string): TgtOp => ({
    mode: 'target',
    op: 'update',
    tid,
    setting: { name, value },
  }),
  newLun: (tid: number, lun: number, path: string, bsoflags?: 'direct'): TgtOp => ({
    mode: 'logicalunit',
    op: 'new',
    tid,
    lun,
    params: [
      { flag: 'backing-store', key: 'path', value: path },
      ...(bsoflags ? [{ flag: 'bsoflags', value: bsoflags }] : []),
    ],
  }),
  updateLun: (tid: number, lun: number, params: string): TgtOp => ({
    mode: 'logicalunit',
    op: 'update',
    tid,
    lun,
    options: { flag: 'params', prefix: 'targetOps', text: params },
  }),
  deleteLun: (tid: number, lun: number): TgtOp => ({ mode: 'logicalunit', op: 'delete', tid, lun }),
  /** An ACL entry: `initiator-name` (IQN) or `initiator-address` (IPv4). */
  acl: (tid: number, key: 'initiator-name' | 'initiator-address', value: string, unbind = false): TgtOp => ({
    mode: 'target',
    op: unbind ? 'unbind' : 'bind',
    tid,
    params: [{ flag: key, value }],
  }),
  // the password only ever travels through the socket (tgtadmArgs refuses it)
  newAccount: (user: string, password: string): TgtOp => ({
    mode: 'account',
    op: 'new',
    params: [
      { flag: 'user', value: user },
      { flag: 'password', value: password, secret: true },
    ],
  }),
  showAccounts: (): TgtOp => ({ mode: 'account', op: 'show' }),
  deleteAccount: (user: string): TgtOp => ({
    mode: 'account',
    op: 'delete',
    params: [{ flag: 'user', value: user }],
  }),
  bindAccount: (tid: number, user: string, outgoing: boolean): TgtOp => ({
    mode: 'account',
    op: 'bind',
    tid,
    params: [{ flag: 'user', value: user }],
    outgoing,
  }),
  connectionStats: (tid: number, sid: number, cid: number): TgtOp => ({
    mode: 'conn',
    op: 'stat',
    tid,
    sid,
    cid,
  }),
  deleteConnection: (tid: number, sid: number, cid: number): TgtOp => ({
    mode: 'conn',
    op: 'delete',
    tid,
    sid,
    cid,
  }),
  showPortals: (): TgtOp => ({ mode: 'portal', op: 'show' }),
  portal: (add: boolean, portal: string): TgtOp => ({
    mode: 'portal',
    op: add ? 'new' : 'delete',
    options: { flag: 'param', prefix: 'portalOps', text: `portal=${portal}` },
  }),
  showSystem: (): TgtOp => ({ mode: 'sys', op: 'show' }),
  deleteSystem: (): TgtOp => ({ mode: 'system', op: 'delete' }),
};
const ops = TGT_OPS;

export type TgtTransport = 'auto' | 'ipc' | 'tgtadm';

/** A CHAP account cannot be made without the management socket (see `newAccount`). */
export class TgtSecretTransportError extends Error {
  constructor() {
    super(
      "tgtd does not answer GGnet's management protocol, and creating a CHAP account with tgtadm would " +
        'put its secret on a command line that every user of the server can read; no account was created',
    );
    this.name = 'TgtSecretTransportError';
  }
}

/** A request was not sent: the tgtd on this control port is not (known to be) GGnet's own. */
export class TgtNotOursError extends Error {
  constructor(
    readonly controlPort: number,
    readonly why: string,
  ) {
    super(`tgtd on control port ${controlPort}: ${why}; no request was sent to it`);
    this.name = 'TgtNotOursError';
  }
}

/**
 * The tgt driver: GGnet's own tgtd (see tgt-daemon.ts), driven through its management socket (no
 * process per step), or with `tgtadm -C <control port>` when that protocol does not match the
 * installed tgtd. Target ids are allocated here; accounts (CHAP users) are global in tgtd, so each
 * target gets its own users. CHAP secrets only ever travel over the socket: with the tgtadm
 * fallback, accounts are refused (TgtSecretTransportError) rather than put on a command line.
 */
export class TgtDriver implements IscsiTargetDriver {
  readonly backend = 'tgt' as const;
  readonly firstLun = 1;
  readonly addressAcl = true;
  private tids = new Map<string, number>();
  private nextTid = 1;
  private resolved: Promise<'ipc' | 'tgtadm'> | null = null;

  constructor(
    private readonly runner: ProcessRunner,
    readonly controlPort: number,
    private readonly opts: {
      transport?: TgtTransport;
      timeoutMs?: number;
      onFallback?: (why: string) => void;
      /**
       * Called before every request: throws (TgtNotOursError) unless the daemon on the control port
       * is GGnet's own and serving. The control socket is a file shared by every network namespace,
       * so without it requests would reach whatever tgtd holds the port.
       */
      guard?: () => void;
      /**
       * Session parameters every new target gets (TGT_TARGET_PARAMS), set right after it is made and
       * before anyone can log in. A tgtd that refuses one is reported to onParamError; the target stays.
       */
      targetParams?: Readonly<Record<string, string>>;
      onParamError?: (name: string, err: unknown) => void;
    } = {},
  ) {
    const t = opts.transport ?? 'tgtadm';
    if (t !== 'auto') this.resolved = Promise.resolve(t);
  }

  /** The transport in use; `auto` probes the socket once with `show sys` and keeps tgtadm on a mismatch. */
  transport(): Promise<'ipc' | 'tgtadm'> {
    this.resolved ??= (async () => {
      try {
        const text = await tgtIpc(tgtSocketPath(this.controlPort), tgtIpcRequest(ops.showSystem()), 3000);
        if (/^System:\n\s+State: /m.test(text) && /iscsi: /.test(text)) return 'ipc' as const;
        this.opts.onFallback?.(`unexpected answer to show sys: ${text.slice(0, 80)}`);
        return 'tgtadm' as const;
      } catch (err) {
        // the daemon is not up (yet): decide on a later call
        this.resolved = null;
        throw err;
      }
    })();
    return this.resolved;
  }

  private async run(op: TgtOp, guarded = true): Promise<string> {
    if (guarded) this.opts.guard?.();
    if ((await this.transport()) === 'ipc')
      return tgtIpc(tgtSocketPath(this.controlPort), tgtIpcRequest(op), this.opts.timeoutMs ?? 15_000);
    const args = tgtadmArgs(op);
    if (!args) throw new TgtSecretTransportError();
    const r = await this.runner.run('tgtadm', ['-C', String(this.controlPort), ...args], {
      timeoutMs: this.opts.timeoutMs ?? 15_000,
    });
    return r.stdout;
  }

  async list(): Promise<TgtTarget[]> {
    const targets = parseTgtShow(await this.run(ops.showTargets()));
    this.tids = new Map(targets.map((t) => [t.iqn, t.tid]));
    this.nextTid = Math.max(this.nextTid, ...targets.map((t) => t.tid + 1));
    return targets;
  }

  private async tid(iqn: string): Promise<number> {
    const known = this.tids.get(iqn);
    if (known !== undefined) return known;
    await this.list();
    const tid = this.tids.get(iqn);
    if (tid === undefined) throw new Error(`tgt: no target ${iqn}`);
    return tid;
  }

  async createTarget(iqn: string): Promise<void> {
    checkIqn(iqn);
    for (let attempt = 0; attempt < 5; attempt++) {
      // synchronous increment: concurrent creates never pick the same tid in this process
      const tid = this.nextTid++;
      try {
        await this.run(ops.newTarget(tid, iqn));
        this.tids.set(iqn, tid);
        for (const [name, value] of Object.entries(this.opts.targetParams ?? {})) {
          try {
            await this.run(ops.updateTarget(tid, name, value));
          } catch (err) {
            this.opts.onParamError?.(name, err);
          }
        }
        return;
      } catch (err) {
        if (!exists(err)) throw err;
        // tgtd says "already exists" for a taken tid and for a taken name alike
        await this.list();
        if (this.tids.has(iqn)) throw new TargetExistsError(iqn);
      }
    }
    throw new Error(`tgt: could not allocate a target id for ${iqn}`);
  }

  async addLun(iqn: string, l: LunSpec): Promise<void> {
    const tid = await this.tid(iqn);
    if (!/^[A-Za-z0-9]{1,32}$/.test(l.serial)) throw new Error(`invalid SCSI serial: ${l.serial}`);
    await this.run(ops.newLun(tid, l.lun, checkPath(l.path), l.bsoflags));
    await this.run(ops.updateLun(tid, l.lun, `vendor_id=GGnet,product_id=VirtualDisk,scsi_sn=${l.serial}`));
  }

  async removeLun(iqn: string, lun: number): Promise<void> {
    await this.run(ops.deleteLun(await this.tid(iqn), lun));
  }

  /** Adds an ACL entry; one that is there already is fine. */
  private async bindAcl(iqn: string, key: 'initiator-name' | 'initiator-address', value: string) {
    const tid = await this.tid(iqn);
    try {
      await this.run(ops.acl(tid, key, value));
    } catch (err) {
      if (!exists(err)) throw err;
    }
  }

  async bindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    await this.bindAcl(iqn, 'initiator-name', checkIqn(initiatorIqn));
  }

  async unbindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    await this.run(ops.acl(await this.tid(iqn), 'initiator-name', checkIqn(initiatorIqn), true));
  }

  async bindAddress(iqn: string, address: string): Promise<void> {
    await this.bindAcl(iqn, 'initiator-address', checkAddress(address));
  }

  async unbindAddress(iqn: string, address: string): Promise<void> {
    // ALL and CIDR entries (made by hand) are unbound by their own text
    if (address !== 'ALL' && !/^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(address))
      throw new Error(`invalid initiator address: ${address}`);
    await this.run(ops.acl(await this.tid(iqn), 'initiator-address', address, true));
  }

  async accounts(): Promise<string[]> {
    return parseTgtAccounts(await this.run(ops.showAccounts()));
  }

  async deleteAccount(user: string): Promise<void> {
    checkChap({ user, secret: 'x'.repeat(12) });
    try {
      await this.run(ops.deleteAccount(user));
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }

  async connectionRx(iqn: string, c: LiveConnection): Promise<number | null> {
    const tid = this.tids.get(iqn) ?? (await this.tid(iqn).catch(() => null));
    if (tid === null) return null;
    try {
      return parseTgtConnRx(await this.run(ops.connectionStats(tid, Number(c.sid), Number(c.cid))));
    } catch (err) {
      if (notFound(err)) return null;
      throw err;
    }
  }

  private async newAccount(c: ChapCredentials): Promise<void> {
    checkChap(c);
    try {
      await this.run(ops.newAccount(c.user, c.secret));
    } catch (err) {
      if (!exists(err)) throw err;
      // left over with a possibly different password: replace it
      await this.run(ops.deleteAccount(c.user));
      await this.run(ops.newAccount(c.user, c.secret));
    }
  }

  async setChap(
    iqn: string,
    _initiatorIqn: string,
    chap: ChapCredentials,
    mutual: ChapCredentials | null,
  ): Promise<void> {
    const tid = await this.tid(iqn);
    const bind = async (c: ChapCredentials, outgoing: boolean) => {
      await this.newAccount(c);
      await this.run(ops.bindAccount(tid, c.user, outgoing));
    };
    // incoming and mutual accounts side by side
    await Promise.all([bind(chap, false), ...(mutual ? [bind(mutual, true)] : [])]);
  }

  async deleteTarget(iqn: string, opts: { force: boolean }): Promise<void> {
    const live = (await this.list()).find((t) => t.iqn === iqn);
    if (!live) return;
    await this.run(ops.deleteTarget(live.tid, opts.force));
    this.tids.delete(iqn);
    // the target is gone first: deleting an account that a live target still has would leave that
    // target with no incoming account, and tgtd lets anyone into such a target without CHAP
    for (const user of [...live.chapUsers, ...(live.mutualUser ? [live.mutualUser] : [])])
      await this.deleteAccount(user);
  }

  async kick(iqn: string, c: LiveConnection): Promise<boolean> {
    await this.run(ops.deleteConnection(await this.tid(iqn), Number(c.sid), Number(c.cid)));
    return true;
  }

  async ensurePortal(host: string, port: number): Promise<void> {
    const want = `${host}:${port}`;
    const have = parseTgtPortals(await this.run(ops.showPortals()));
    if (!have.includes(want)) await this.run(ops.portal(true, want));
    for (const p of have.filter((x) => x !== want)) await this.run(ops.portal(false, p));
  }

  /**
   * The daemon answers `show sys` (the supervisor's health check). `unguarded`: the caller has just
   * made sure the daemon holding the control port is ours (a start or adoption in progress).
   */
  async healthy(unguarded = false): Promise<boolean> {
    try {
      await this.run(ops.showSystem(), !unguarded);
      return true;
    } catch {
      return false;
    }
  }

  /** Orderly shutdown of the daemon: targets first (tgtd refuses to stop otherwise), then the system. */
  async shutdownDaemon(unguarded = false): Promise<void> {
    const targets = await this.run(ops.showTargets(), !unguarded)
      .then(parseTgtShow)
      .catch(() => []);
    for (const t of targets) {
      await this.run(ops.deleteTarget(t.tid, true), !unguarded).catch(() => undefined);
    }
    await this.run(ops.deleteSystem(), !unguarded).catch(() => undefined);
  }
}
