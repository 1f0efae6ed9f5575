import { IQN_RE, IPV4_RE } from '@ggnet/contracts';

/**
 * An iSCSI target implementation (tgt's tgtd, or the kernel's LIO through targetcli). GGnet keeps the
 * desired state in the database; the drivers only do single steps and read the live state back.
 */
export interface LunSpec {
  lun: number;
  /** Absolute path of the backing file or block device. */
  path: string;
  /** Stable SCSI serial, so that the client OS sees the same disk at every boot. */
  serial: string;
}

export interface ChapCredentials {
  user: string;
  secret: string;
}

export interface TargetSpec {
  iqn: string;
  luns: LunSpec[];
  /** The only initiator allowed to log in (ACL). */
  initiatorIqn: string;
  chap: ChapCredentials | null;
  /** Mutual CHAP: the credentials the target proves itself with. */
  mutual: ChapCredentials | null;
}

export interface LiveConnection {
  initiator: string;
  address: string;
  /** Driver ids of the session and connection (tgt: I_T nexus / connection id), for kicking it. */
  sid: string;
  cid: string;
}

export interface LiveTarget {
  iqn: string;
  luns: { lun: number; path: string }[];
  /** Initiator names allowed (ACL). */
  initiators: string[];
  /** Initiator addresses allowed (tgt address ACLs; GGnet does not use them). */
  addresses: string[];
  chapUsers: string[];
  mutualUser: string | null;
  connections: LiveConnection[];
}

export interface IscsiTargetDriver {
  readonly backend: 'tgt' | 'lio';
  /** LUN number of the first data disk (tgt 1: its LUN 0 is the controller; LIO 0). */
  readonly firstLun: number;
  createTarget(iqn: string): Promise<void>;
  addLun(iqn: string, lun: LunSpec): Promise<void>;
  removeLun(iqn: string, lun: number): Promise<void>;
  bindInitiator(iqn: string, initiatorIqn: string): Promise<void>;
  unbindInitiator(iqn: string, initiatorIqn: string): Promise<void>;
  /** Incoming CHAP for that initiator, plus mutual CHAP when given. */
  setChap(
    iqn: string,
    initiatorIqn: string,
    chap: ChapCredentials,
    mutual: ChapCredentials | null,
  ): Promise<void>;
  /** Removes the target (with force: also with initiators logged in) and what belongs to it only. */
  deleteTarget(iqn: string, opts: { force: boolean }): Promise<void>;
  /** The actual state: targets, LUNs, ACLs, accounts, logged-in initiators and their addresses. */
  list(): Promise<LiveTarget[]>;
  /** Drops one connection (used to enforce an IP restriction); false when the driver cannot. */
  kick(iqn: string, c: LiveConnection): Promise<boolean>;
  /** Makes the listening portals match (tgt: portals are global to the daemon). */
  ensurePortal(host: string, port: number): Promise<void>;
}

export class TargetExistsError extends Error {
  constructor(readonly iqn: string) {
    super(`target ${iqn} already exists`);
    this.name = 'TargetExistsError';
  }
}

/** CHAP user names and secrets that reach a tool: no spaces, quotes or separators. */
export const CHAP_USER_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}$/;
export const CHAP_SECRET_RE = /^[A-Za-z0-9]{12,64}$/;

export function checkIqn(iqn: string): string {
  if (!IQN_RE.test(iqn)) throw new Error(`invalid IQN: ${iqn}`);
  return iqn;
}

export function checkChap(c: ChapCredentials): ChapCredentials {
  if (!CHAP_USER_RE.test(c.user)) throw new Error(`invalid CHAP user name: ${c.user}`);
  if (!CHAP_SECRET_RE.test(c.secret)) throw new Error('invalid CHAP secret (12-64 letters and digits)');
  return c;
}

export function checkPath(p: string): string {
  if (!/^\/[A-Za-z0-9._/:-]+$/.test(p) || p.split('/').includes('..'))
    throw new Error(`invalid backing store path: ${p}`);
  return p;
}

export const isIpv4 = (s: string) => IPV4_RE.test(s);

/**
 * Creates a whole target from a spec: target, LUNs, ACL, CHAP. All or nothing: when a step fails the
 * target is removed again, so no half-made target is left behind.
 */
export async function createTargetFromSpec(driver: IscsiTargetDriver, spec: TargetSpec): Promise<void> {
  await driver.createTarget(spec.iqn);
  try {
    // LUNs and CHAP do not depend on each other: done side by side (each tool call costs a process)
    const steps = await Promise.allSettled([
      ...spec.luns.map((l) => driver.addLun(spec.iqn, l)),
      ...(spec.chap ? [driver.setChap(spec.iqn, spec.initiatorIqn, spec.chap, spec.mutual)] : []),
    ]);
    const failed = steps.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    // the ACL last: until it is bound nobody can log in, so a client never sees a target without CHAP
    await driver.bindInitiator(spec.iqn, spec.initiatorIqn);
  } catch (err) {
    await driver.deleteTarget(spec.iqn, { force: true }).catch(() => undefined);
    throw err;
  }
}

export interface TargetDrift {
  missingLuns: LunSpec[];
  /** LUNs whose backing path differs from the desired one. */
  wrongLuns: LunSpec[];
  extraLuns: number[];
  missingInitiator: boolean;
  extraInitiators: string[];
  chapMismatch: boolean;
}

/** What differs between a desired target and the live one (the reconciler repairs it). */
export function targetDrift(spec: TargetSpec, live: LiveTarget, firstLun: number): TargetDrift {
  const liveLuns = new Map(live.luns.filter((l) => l.lun >= firstLun).map((l) => [l.lun, l.path]));
  const wanted = new Set(spec.luns.map((l) => l.lun));
  const expectedUsers = spec.chap ? [spec.chap.user] : [];
  return {
    missingLuns: spec.luns.filter((l) => !liveLuns.has(l.lun)),
    wrongLuns: spec.luns.filter((l) => liveLuns.has(l.lun) && liveLuns.get(l.lun) !== l.path),
    extraLuns: [...liveLuns.keys()].filter((n) => !wanted.has(n)),
    missingInitiator: !live.initiators.includes(spec.initiatorIqn),
    extraInitiators: live.initiators.filter((i) => i !== spec.initiatorIqn),
    chapMismatch:
      expectedUsers.some((u) => !live.chapUsers.includes(u)) ||
      live.chapUsers.some((u) => !expectedUsers.includes(u)) ||
      (spec.mutual?.user ?? null) !== live.mutualUser,
  };
}

export const hasDrift = (d: TargetDrift) =>
  d.missingLuns.length > 0 ||
  d.wrongLuns.length > 0 ||
  d.extraLuns.length > 0 ||
  d.missingInitiator ||
  d.extraInitiators.length > 0 ||
  d.chapMismatch;
