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
  readonly targets = new Map<string, LiveTarget>();
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
  async addLun(iqn: string, l: LunSpec): Promise<void> {
    this.step(`lun ${iqn} ${l.lun}`);
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
  async setChap(
    iqn: string,
    _i: string,
    chap: ChapCredentials,
    mutual: ChapCredentials | null,
  ): Promise<void> {
    this.step(`chap ${iqn}`);
    const t = this.get(iqn);
    t.chapUsers = [chap.user];
    t.mutualUser = mutual?.user ?? null;
  }
  async deleteTarget(iqn: string, opts: { force: boolean }): Promise<void> {
    this.step(`delete ${iqn}`);
    const t = this.targets.get(iqn);
    if (!t) return;
    if (t.connections.length && !opts.force) throw new Error('target is still active');
    this.targets.delete(iqn);
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
