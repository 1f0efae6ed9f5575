import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessRunner } from '../process/process-runner.adapter.js';
import {
  TargetExistsError,
  checkChap,
  checkIqn,
  checkPath,
  type ChapCredentials,
  type IscsiTargetDriver,
  type LiveConnection,
  type LiveTarget,
  type LunSpec,
} from './iscsi-target.adapter.js';

/** The parts of targetcli's saveconfig JSON (rtslib's dump) that GGnet reads. */
interface LioConfig {
  storage_objects?: Array<{ name?: string; plugin?: string; dev?: string }>;
  targets?: Array<{
    wwn?: string;
    fabric?: string;
    tpgs?: Array<{
      tag?: number;
      luns?: Array<{ index?: number; storage_object?: string }>;
      node_acls?: Array<{
        node_wwn?: string;
        chap_userid?: string;
        chap_mutual_userid?: string;
      }>;
    }>;
  }>;
}

/** Backstore name of a LUN: derived from the target's identifier, so that sessions map back to targets. */
export function lioBackstoreName(iqn: string, lun: number): string {
  const id = checkIqn(iqn).split(':').slice(1).join(':') || iqn.split('.').pop()!;
  return `ggnet-${id.replace(/[^A-Za-z0-9_.-]/g, '_')}-l${lun}`;
}

/** Live targets from a saveconfig JSON (only iSCSI targets; TPG 1). */
export function parseLioConfig(json: string): LiveTarget[] {
  const cfg = JSON.parse(json) as LioConfig;
  const objects = new Map(
    (cfg.storage_objects ?? []).map((o) => [`/backstores/${o.plugin}/${o.name}`, o.dev ?? '']),
  );
  const out: LiveTarget[] = [];
  for (const t of cfg.targets ?? []) {
    if (t.fabric !== 'iscsi' || !t.wwn) continue;
    const tpg = (t.tpgs ?? []).find((g) => (g.tag ?? 1) === 1) ?? t.tpgs?.[0];
    const acls = tpg?.node_acls ?? [];
    const mutual = acls.find((a) => a.chap_mutual_userid)?.chap_mutual_userid ?? null;
    out.push({
      iqn: t.wwn,
      luns: (tpg?.luns ?? [])
        .filter((l) => typeof l.index === 'number')
        .map((l) => ({ lun: l.index!, path: objects.get(l.storage_object ?? '') ?? '' })),
      initiators: acls.map((a) => a.node_wwn ?? '').filter(Boolean),
      addresses: [],
      chapUsers: acls.map((a) => a.chap_userid ?? '').filter(Boolean),
      mutualUser: mutual,
      connections: [],
    });
  }
  return out;
}

export interface LioSession {
  sid: string;
  initiator: string;
  backstores: string[];
  addresses: string[];
}

/**
 * `targetcli sessions detail`:
 *   alias: host	sid: 3 type: Normal session-state: LOGGED_IN
 *       name: iqn... (authenticated)
 *       mapped-lun: 0 backstore: fileio/ggnet-pc-01-l0 mode: rw
 *       address: 10.0.0.5 (TCP)  cid: 0 connection-state: LOGGED_IN
 */
export function parseLioSessions(text: string): LioSession[] {
  const out: LioSession[] = [];
  let cur: LioSession | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /sid: (\d+) type: (\S+) session-state: (\S+)/.exec(line))) {
      cur = { sid: m[1]!, initiator: '', backstores: [], addresses: [] };
      out.push(cur);
    } else if (!cur) continue;
    else if ((m = /^name: (\S+)/.exec(line))) cur.initiator = m[1]!;
    else if ((m = /^mapped-lun: \d+ backstore: \S+?\/(\S+) mode/.exec(line))) cur.backstores.push(m[1]!);
    else if ((m = /^address: (\S+) \(/.exec(line))) cur.addresses.push(m[1]!);
  }
  return out;
}

/**
 * The LIO driver: the kernel target through `targetcli` one-shot commands (argument arrays; targetcli
 * joins them with spaces, so every value is checked to contain none). State is read from a saveconfig
 * dump and `sessions detail`. Not exercised by CI: this machine's kernel has no configfs; the unit test
 * checks the exact commands and the parsers.
 */
export class LioDriver implements IscsiTargetDriver {
  readonly backend = 'lio' as const;
  readonly firstLun = 0;
  /** LIO's ACLs name initiators only: a target cannot be restricted to one client address. */
  readonly addressAcl = false;
  private prepared = false;

  constructor(
    private readonly runner: ProcessRunner,
    private readonly runDir: string,
    private portal: { host: string; port: number },
    private readonly timeoutMs = 60_000,
  ) {}

  private async tcli(args: string[]) {
    if (!this.prepared) {
      this.prepared = true;
      // no automatic saves (GGnet rebuilds its targets), no default 0.0.0.0:3260 portal, LUNs mapped to ACLs
      await this.runner.run(
        'targetcli',
        [
          'set',
          'global',
          'auto_save_on_exit=false',
          'auto_add_default_portal=false',
          'auto_add_mapped_luns=true',
        ],
        { timeoutMs: this.timeoutMs },
      );
    }
    return this.runner.run('targetcli', args, { timeoutMs: this.timeoutMs });
  }

  private tpg(iqn: string) {
    return `/iscsi/${checkIqn(iqn)}/tpg1`;
  }

  async list(): Promise<LiveTarget[]> {
    const file = join(this.runDir, `lio-state-${randomBytes(4).toString('hex')}.json`);
    try {
      await this.tcli(['saveconfig', `savefile=${file}`]);
      const targets = parseLioConfig(await readFile(file, 'utf8'));
      const sessions = parseLioSessions((await this.tcli(['sessions', 'detail'])).stdout);
      for (const t of targets) {
        const names = new Set(t.luns.map((l) => lioBackstoreName(t.iqn, l.lun)));
        for (const s of sessions) {
          if (!s.backstores.some((b) => names.has(b))) continue;
          s.addresses.forEach((address, i) =>
            t.connections.push({ initiator: s.initiator, address, sid: s.sid, cid: String(i) }),
          );
        }
      }
      return targets;
    } finally {
      await rm(file, { force: true });
    }
  }

  async createTarget(iqn: string): Promise<void> {
    if ((await this.list()).some((t) => t.iqn === iqn)) throw new TargetExistsError(iqn);
    await this.tcli(['/iscsi', 'create', checkIqn(iqn)]);
    await this.tcli([`${this.tpg(iqn)}/portals`, 'create', this.portal.host, String(this.portal.port)]);
    await this.tcli([
      this.tpg(iqn),
      'set',
      'attribute',
      'authentication=1',
      'generate_node_acls=0',
      'demo_mode_write_protect=1',
    ]);
  }

  async addLun(iqn: string, l: LunSpec): Promise<void> {
    const name = lioBackstoreName(iqn, l.lun);
    if (!/^[A-Za-z0-9]{1,32}$/.test(l.serial)) throw new Error(`invalid SCSI serial: ${l.serial}`);
    const dev = checkPath(l.path);
    const plugin = dev.startsWith('/dev/') ? 'block' : 'fileio';
    await this.tcli([
      `/backstores/${plugin}`,
      'create',
      `name=${name}`,
      `${plugin === 'block' ? 'dev' : 'file_or_dev'}=${dev}`,
      `wwn=${l.serial}`,
    ]);
    await this.tcli([`${this.tpg(iqn)}/luns`, 'create', `/backstores/${plugin}/${name}`, `lun=${l.lun}`]);
  }

  async removeLun(iqn: string, lun: number): Promise<void> {
    await this.tcli([`${this.tpg(iqn)}/luns`, 'delete', `lun=${lun}`]);
    await this.deleteBackstore(lioBackstoreName(iqn, lun));
  }

  private async deleteBackstore(name: string): Promise<void> {
    for (const plugin of ['fileio', 'block']) {
      await this.runner
        .run('targetcli', [`/backstores/${plugin}`, 'delete', name], {
          timeoutMs: this.timeoutMs,
          okExitCodes: [0, 1],
        })
        .catch(() => undefined);
    }
  }

  async bindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    const live = (await this.list()).find((t) => t.iqn === iqn);
    if (live?.initiators.includes(initiatorIqn)) return;
    await this.tcli([`${this.tpg(iqn)}/acls`, 'create', checkIqn(initiatorIqn)]);
  }

  async unbindInitiator(iqn: string, initiatorIqn: string): Promise<void> {
    await this.tcli([`${this.tpg(iqn)}/acls`, 'delete', checkIqn(initiatorIqn)]);
  }

  async bindAddress(_iqn: string, _address: string): Promise<void> {
    throw new Error('the LIO backend cannot restrict a target to one client address');
  }

  async unbindAddress(_iqn: string, _address: string): Promise<void> {
    throw new Error('the LIO backend has no address ACLs');
  }

  async setChap(
    iqn: string,
    initiatorIqn: string,
    chap: ChapCredentials,
    mutual: ChapCredentials | null,
  ): Promise<void> {
    checkChap(chap);
    if (mutual) checkChap(mutual);
    // LIO keeps CHAP on the initiator's ACL: make sure it exists first
    await this.bindInitiator(iqn, initiatorIqn);
    await this.tcli([
      `${this.tpg(iqn)}/acls/${checkIqn(initiatorIqn)}`,
      'set',
      'auth',
      `userid=${chap.user}`,
      `password=${chap.secret}`,
      ...(mutual ? [`mutual_userid=${mutual.user}`, `mutual_password=${mutual.secret}`] : []),
    ]);
  }

  async deleteTarget(iqn: string, _opts: { force: boolean }): Promise<void> {
    const live = (await this.list()).find((t) => t.iqn === iqn);
    if (!live) return;
    // LIO drops logged-in sessions when the target goes: force is implied
    await this.tcli(['/iscsi', 'delete', iqn]);
    for (const l of live.luns) await this.deleteBackstore(lioBackstoreName(iqn, l.lun));
  }

  async kick(_iqn: string, _c: LiveConnection): Promise<boolean> {
    // targetcli cannot close a single session; removing the ACL would drop the legitimate client too
    return false;
  }

  async ensurePortal(host: string, port: number): Promise<void> {
    // LIO portals belong to each target's TPG: new targets get the new portal
    this.portal = { host, port };
  }
}
