import {
  TargetExistsError,
  type ChapCredentials,
  type IscsiTargetDriver,
  type LiveConnection,
  type LiveTarget,
  type LunSpec,
} from './iscsi-target.adapter.js';

/** In-memory target for unit tests: records calls, can fail on demand, lets tests "log in" initiators. */
export class FakeIscsiDriver implements IscsiTargetDriver {
  readonly backend = 'tgt' as const;
  readonly firstLun = 1;
  readonly addressAcl = true;
  readonly targets = new Map<string, LiveTarget>();
  /** Global CHAP accounts, as tgtd keeps them (user -> secret). */
  readonly accountList = new Map<string, string>();
  /** rxdata_octets per connection sid (tests move it to play a client that answers pings). */
  readonly rx = new Map<string, number>();
  readonly calls: string[] = [];
  portal: string | null = null;
  failOn: string | null = null;
  kicked: LiveConnection[] = [];

  private get(iqn: string): LiveTarget {
    const t = this.targets.get(iqn);
    if (!t) throw new Error(`no target ${iqn}`);
    return t;
  }

  private step(name: string) {
    this.calls.push(name);
    if (this.failOn && name.startsWith(this.failOn)) throw new Error(`injected failure: ${name}`);
  }

  async createTarget(iqn: string): Promise<void> {
    this.step(`create ${iqn}`);
    if (this.targets.has(iqn)) throw new TargetExistsError(iqn);
    this.targets.set(iqn, {
      iqn,
      luns: [],
      initiators: [],
      addresses: [],
      chapUsers: [],
      mutualUser: null,
      connections: [],
    });
  }
  /** Every LUN spec added, in order (backing flags included). */
  readonly lunSpecs: Array<LunSpec & { iqn: string }> = [];
  async addLun(iqn: string, l: LunSpec): Promise<void> {
    this.step(`lun ${iqn} ${l.lun}`);
    this.lunSpecs.push({ iqn, ...l });
    this.get(iqn).luns.push({ lun: l.lun, path: l.path });
  }
  async removeLun(iqn: string, lun: number): Promise<void> {
    this.step(`unlun ${iqn} ${lun}`);
    const t = this.get(iqn);
    t.luns = t.luns.filter((l) => l.lun !== lun);
  }
  async bindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    this.step(`bind ${iqn} ${initiatorIqn}`);
    const t = this.get(iqn);
    if (!t.initiators.includes(initiatorIqn)) t.initiators.push(initiatorIqn);
  }
  async unbindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    this.step(`unbind ${iqn} ${initiatorIqn}`);
    const t = this.get(iqn);
    t.initiators = t.initiators.filter((i) => i !== initiatorIqn);
  }
  async bindAddress(iqn: string, address: string): Promise<void> {
    this.step(`bind-address ${iqn} ${address}`);
    const t = this.get(iqn);
    if (!t.addresses.includes(address)) t.addresses.push(address);
  }
  async unbindAddress(iqn: string, address: string): Promise<void> {
    this.step(`unbind-address ${iqn} ${address}`);
    const t = this.get(iqn);
    t.addresses = t.addresses.filter((a) => a !== address);
  }
  async setChap(
    iqn: string,
    _i: string,
    chap: ChapCredentials,
    mutual: ChapCredentials | null,
  ): Promise<void> {
    this.step(`chap ${iqn}`);
    const t = this.get(iqn);
    this.accountList.set(chap.user, chap.secret);
    if (!t.chapUsers.includes(chap.user)) t.chapUsers.push(chap.user);
    if (mutual) this.accountList.set(mutual.user, mutual.secret);
    t.mutualUser = mutual?.user ?? null;
  }
  async deleteTarget(iqn: string, opts: { force: boolean }): Promise<void> {
    this.step(`delete ${iqn}`);
    const t = this.targets.get(iqn);
    if (!t) return;
    if (t.connections.length && !opts.force) throw new Error('target is still active');
    this.targets.delete(iqn);
    for (const u of [...t.chapUsers, ...(t.mutualUser ? [t.mutualUser] : [])]) this.accountList.delete(u);
  }
  async accounts(): Promise<string[]> {
    this.step('accounts');
    return [...this.accountList.keys()];
  }
  async deleteAccount(user: string): Promise<void> {
    this.step(`delete-account ${user}`);
    this.accountList.delete(user);
    for (const t of this.targets.values()) {
      t.chapUsers = t.chapUsers.filter((u) => u !== user);
      if (t.mutualUser === user) t.mutualUser = null;
    }
  }
  async connectionRx(iqn: string, c: LiveConnection): Promise<number | null> {
    const t = this.targets.get(iqn);
    if (!t?.connections.some((x) => x.sid === c.sid)) return null;
    return this.rx.get(c.sid) ?? 0;
  }
  async list(): Promise<LiveTarget[]> {
    this.step('list');
    return [...this.targets.values()].map((t) => structuredClone(t));
  }
  async kick(iqn: string, c: LiveConnection): Promise<boolean> {
    this.step(`kick ${iqn} ${c.address}`);
    const t = this.get(iqn);
    t.connections = t.connections.filter((x) => x.sid !== c.sid);
    this.kicked.push(c);
    return true;
  }
  async ensurePortal(host: string, port: number): Promise<void> {
    this.portal = `${host}:${port}`;
  }

  /** Test helper: an initiator logs in. */
  login(iqn: string, initiator: string, address: string): void {
    const t = this.get(iqn);
    t.connections.push({ initiator, address, sid: String(t.connections.length + 1), cid: '0' });
  }
  logout(iqn: string): void {
    this.get(iqn).connections = [];
  }
}
