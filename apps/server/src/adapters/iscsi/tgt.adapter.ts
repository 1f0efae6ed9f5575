import { ProcessError, type ProcessRunner } from '../process/process-runner.adapter.js';
import {
  TargetExistsError,
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

/** `Portal: 127.0.0.1:3260,1` lines of `--op show --mode portal`. */
export function parseTgtPortals(text: string): string[] {
  return [...text.matchAll(/^Portal: (\S+),\d+$/gm)].map((m) => m[1]!);
}

const exists = (e: unknown) => e instanceof ProcessError && /already exists/.test(e.stderr);
const notFound = (e: unknown) =>
  e instanceof ProcessError && /can't find|not found|No such|doesn't exist/i.test(e.stderr);

/**
 * The tgt driver: GGnet's own tgtd (see tgt-daemon.ts), driven with `tgtadm -C <control port>`. Target
 * ids are allocated here; accounts (CHAP users) are global in tgtd, so each target gets its own users.
 */
export class TgtDriver implements IscsiTargetDriver {
  readonly backend = 'tgt' as const;
  readonly firstLun = 1;
  private tids = new Map<string, number>();
  private nextTid = 1;

  constructor(
    private readonly runner: ProcessRunner,
    readonly controlPort: number,
    private readonly timeoutMs = 15_000,
  ) {}

  private tgtadm(args: string[]) {
    return this.runner.run('tgtadm', ['-C', String(this.controlPort), '--lld', 'iscsi', ...args], {
      timeoutMs: this.timeoutMs,
    });
  }

  async list(): Promise<TgtTarget[]> {
    const r = await this.tgtadm(['--op', 'show', '--mode', 'target']);
    const targets = parseTgtShow(r.stdout);
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
        await this.tgtadm(['--op', 'new', '--mode', 'target', '--tid', String(tid), '--targetname', iqn]);
        this.tids.set(iqn, tid);
        return;
      } catch (err) {
        if (!exists(err)) throw err;
        // tgtadm says "already exists" for a taken tid and for a taken name alike
        await this.list();
        if (this.tids.has(iqn)) throw new TargetExistsError(iqn);
      }
    }
    throw new Error(`tgt: could not allocate a target id for ${iqn}`);
  }

  async addLun(iqn: string, l: LunSpec): Promise<void> {
    const tid = String(await this.tid(iqn));
    const lun = String(l.lun);
    await this.tgtadm([
      '--op',
      'new',
      '--mode',
      'logicalunit',
      '--tid',
      tid,
      '--lun',
      lun,
      '--backing-store',
      checkPath(l.path),
    ]);
    if (!/^[A-Za-z0-9]{1,32}$/.test(l.serial)) throw new Error(`invalid SCSI serial: ${l.serial}`);
    await this.tgtadm([
      '--op',
      'update',
      '--mode',
      'logicalunit',
      '--tid',
      tid,
      '--lun',
      lun,
      '--params',
      `vendor_id=GGnet,product_id=VirtualDisk,scsi_sn=${l.serial}`,
    ]);
  }

  async removeLun(iqn: string, lun: number): Promise<void> {
    const tid = String(await this.tid(iqn));
    await this.tgtadm(['--op', 'delete', '--mode', 'logicalunit', '--tid', tid, '--lun', String(lun)]);
  }

  async bindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    const tid = String(await this.tid(iqn));
    try {
      await this.tgtadm([
        '--op',
        'bind',
        '--mode',
        'target',
        '--tid',
        tid,
        '--initiator-name',
        checkIqn(initiatorIqn),
      ]);
    } catch (err) {
      if (!exists(err)) throw err;
    }
  }

  async unbindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    const tid = String(await this.tid(iqn));
    await this.tgtadm(['--op', 'unbind', '--mode', 'target', '--tid', tid, '--initiator-name', initiatorIqn]);
  }

  private async newAccount(c: ChapCredentials): Promise<void> {
    checkChap(c);
    try {
      await this.tgtadm(['--op', 'new', '--mode', 'account', '--user', c.user, '--password', c.secret]);
    } catch (err) {
      if (!exists(err)) throw err;
      // left over with a possibly different password: replace it
      await this.tgtadm(['--op', 'delete', '--mode', 'account', '--user', c.user]);
      await this.tgtadm(['--op', 'new', '--mode', 'account', '--user', c.user, '--password', c.secret]);
    }
  }

  async setChap(
    iqn: string,
    _initiatorIqn: string,
    chap: ChapCredentials,
    mutual: ChapCredentials | null,
  ): Promise<void> {
    const tid = String(await this.tid(iqn));
    const bind = async (c: ChapCredentials, outgoing: boolean) => {
      await this.newAccount(c);
      const args = ['--op', 'bind', '--mode', 'account', '--tid', tid, '--user', c.user];
      await this.tgtadm(outgoing ? [...args, '--outgoing'] : args);
    };
    // incoming and mutual accounts side by side (each tgtadm call costs a process)
    await Promise.all([bind(chap, false), ...(mutual ? [bind(mutual, true)] : [])]);
  }

  async deleteTarget(iqn: string, opts: { force: boolean }): Promise<void> {
    const live = (await this.list()).find((t) => t.iqn === iqn);
    if (!live) return;
    await this.tgtadm([
      '--op',
      'delete',
      '--mode',
      'target',
      '--tid',
      String(live.tid),
      ...(opts.force ? ['--force'] : []),
    ]);
    this.tids.delete(iqn);
    for (const user of [...live.chapUsers, ...(live.mutualUser ? [live.mutualUser] : [])]) {
      try {
        await this.tgtadm(['--op', 'delete', '--mode', 'account', '--user', user]);
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    }
  }

  async kick(iqn: string, c: LiveConnection): Promise<boolean> {
    const tid = String(await this.tid(iqn));
    await this.tgtadm(['--op', 'delete', '--mode', 'conn', '--tid', tid, '--sid', c.sid, '--cid', c.cid]);
    return true;
  }

  async ensurePortal(host: string, port: number): Promise<void> {
    const want = `${host}:${port}`;
    const r = await this.tgtadm(['--op', 'show', '--mode', 'portal']);
    const have = parseTgtPortals(r.stdout);
    if (!have.includes(want))
      await this.tgtadm(['--op', 'new', '--mode', 'portal', '--param', `portal=${want}`]);
    for (const p of have.filter((x) => x !== want)) {
      await this.tgtadm(['--op', 'delete', '--mode', 'portal', '--param', `portal=${p}`]);
    }
  }

  /** `tgtadm --op show --mode sys` answers: the daemon is up. */
  async healthy(): Promise<boolean> {
    try {
      await this.runner.run('tgtadm', ['-C', String(this.controlPort), '--op', 'show', '--mode', 'sys'], {
        timeoutMs: 5000,
      });
      return true;
    } catch {
      return false;
    }
  }

  /** Orderly shutdown of the daemon: targets first (tgtd refuses to stop otherwise), then the system. */
  async shutdownDaemon(): Promise<void> {
    for (const t of await this.list().catch(() => [])) {
      await this.tgtadm(['--op', 'delete', '--mode', 'target', '--tid', String(t.tid), '--force']).catch(
        () => undefined,
      );
    }
    await this.runner
      .run('tgtadm', ['-C', String(this.controlPort), '--op', 'delete', '--mode', 'system'], {
        timeoutMs: 5000,
      })
      .catch(() => undefined);
  }
}
