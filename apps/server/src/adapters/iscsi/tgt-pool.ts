import type {
  ChapCredentials,
  IscsiTargetDriver,
  LiveConnection,
  LiveTarget,
  LunSpec,
} from './iscsi-target.adapter.js';
import { TgtNotOursError, type TgtDriver } from './tgt.adapter.js';

/**
 * Several tgtd instances behind one driver: tgtd does its network I/O in one thread, so one daemon
 * carries every client on one core; N daemons (each its own control port and portal port) carry
 * them on N. Each target lives on one daemon, chosen when its row is made (`place`, from the row's
 * `tgt_daemon`); every step for a target goes to that daemon, so requests for targets of different
 * daemons run in parallel. `list()` merges the daemons' targets, each marked with its daemon.
 * Accounts (CHAP users) are per daemon.
 */
export class TgtPool implements IscsiTargetDriver {
  readonly backend = 'tgt' as const;
  readonly firstLun = 1;
  readonly addressAcl = true;
  private readonly where = new Map<string, number>();

  constructor(readonly members: readonly TgtDriver[]) {
    if (!members.length) throw new Error('tgt pool: no daemons');
  }

  get size(): number {
    return this.members.length;
  }

  /** The daemon that serves (or is to serve) a target. */
  place(iqn: string, daemon: number): void {
    if (!Number.isInteger(daemon) || daemon < 0 || daemon >= this.members.length)
      throw new Error(`tgt pool: no daemon ${daemon}`);
    this.where.set(iqn, daemon);
  }

  daemonOf(iqn: string): number {
    return this.where.get(iqn) ?? 0;
  }

  member(daemon: number): TgtDriver {
    const m = this.members[daemon];
    if (!m) throw new Error(`tgt pool: no daemon ${daemon}`);
    return m;
  }

  private of(iqn: string): TgtDriver {
    return this.member(this.daemonOf(iqn));
  }

  /** One daemon's targets, each marked with the daemon. */
  async listOne(daemon: number): Promise<LiveTarget[]> {
    return (await this.member(daemon).list()).map((t) => ({ ...t, daemon }));
  }

  /**
   * Every daemon's targets (asked side by side). A daemon that is not ours or not serving now (its
   * guard refused: a conflict, a restart) is left out, the others are listed; any other failure fails.
   */
  async list(): Promise<LiveTarget[]> {
    const each = await Promise.all(
      this.members.map((_, i) =>
        this.listOne(i).catch((err) => {
          if (err instanceof TgtNotOursError && this.members.length > 1) return [];
          throw err;
        }),
      ),
    );
    const all = each.flat();
    // a target that no placement names yet (a restart) is served where it was found
    for (const t of all)
      if (!this.where.has(t.iqn) && t.daemon !== undefined) this.where.set(t.iqn, t.daemon);
    return all;
  }

  createTarget(iqn: string): Promise<void> {
    return this.of(iqn).createTarget(iqn);
  }
  addLun(iqn: string, lun: LunSpec): Promise<void> {
    return this.of(iqn).addLun(iqn, lun);
  }
  removeLun(iqn: string, lun: number): Promise<void> {
    return this.of(iqn).removeLun(iqn, lun);
  }
  bindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    return this.of(iqn).bindInitiator(iqn, initiatorIqn);
  }
  unbindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    return this.of(iqn).unbindInitiator(iqn, initiatorIqn);
  }
  bindAddress(iqn: string, address: string): Promise<void> {
    return this.of(iqn).bindAddress(iqn, address);
  }
  unbindAddress(iqn: string, address: string): Promise<void> {
    return this.of(iqn).unbindAddress(iqn, address);
  }
  setChap(iqn: string, initiatorIqn: string, chap: ChapCredentials, mutual: ChapCredentials | null) {
    return this.of(iqn).setChap(iqn, initiatorIqn, chap, mutual);
  }
  deleteTarget(iqn: string, opts: { force: boolean }): Promise<void> {
    return this.of(iqn).deleteTarget(iqn, opts);
  }
  /** Removes a target from one given daemon (a target found on another daemon than its row's). */
  deleteTargetOn(daemon: number, iqn: string, opts: { force: boolean }): Promise<void> {
    return this.member(daemon).deleteTarget(iqn, opts);
  }
  kick(iqn: string, c: LiveConnection): Promise<boolean> {
    return this.of(iqn).kick(iqn, c);
  }
  connectionRx(iqn: string, c: LiveConnection): Promise<number | null> {
    return this.of(iqn).connectionRx(iqn, c);
  }
  /** Accounts of every daemon (the reconciler works per daemon with `member(i)`). */
  async accounts(): Promise<string[]> {
    return [...new Set((await Promise.all(this.members.map((m) => m.accounts()))).flat())];
  }
  async deleteAccount(user: string): Promise<void> {
    await Promise.all(this.members.map((m) => m.deleteAccount(user)));
  }
  /** Daemon i listens on `port + i`. */
  async ensurePortal(host: string, port: number): Promise<void> {
    await Promise.all(this.members.map((m, i) => m.ensurePortal(host, port + i)));
  }
}

/** The portal port of daemon i when the first one listens on `base`. */
export const daemonPortalPort = (base: number, daemon: number) => base + daemon;

/**
 * The daemon for a new target: machines keep their daemon (rendezvous hashing of the machine id
 * orders the daemons the same way every time), unless that daemon carries clearly more targets than
 * the least loaded one (more than `slack` above it), then the next in the machine's order that does
 * not. Only daemons in `usable` (serving, ours) are candidates; null when there is none.
 */
export function chooseDaemon(
  machineId: string,
  load: readonly number[],
  usable: readonly boolean[],
  score: (key: string) => number,
): number | null {
  const candidates = load.map((_, i) => i).filter((i) => usable[i]);
  if (!candidates.length) return null;
  const min = Math.min(...candidates.map((i) => load[i]!));
  const total = candidates.reduce((n, i) => n + load[i]!, 0);
  const slack = Math.max(2, Math.ceil((0.1 * total) / candidates.length));
  const order = [...candidates].sort(
    (a, b) => score(`${machineId}#${b}`) - score(`${machineId}#${a}`) || a - b,
  );
  return order.find((i) => load[i]! <= min + slack) ?? order[0]!;
}
