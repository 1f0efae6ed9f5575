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
  /** Backing-store open flags (tgt `--bsoflags direct`: a FUSE export file must not be cached twice). */
  bsoflags?: 'direct';
}

export interface ChapCredentials {
  user: string;
  secret: string;
}

export interface TargetSpec {
  iqn: string;
  luns: LunSpec[];
  /** The only initiator allowed to log in (ACL), unless the target is bound to an address. */
  initiatorIqn: string;
  /**
   * The only client address allowed to log in (a machine with a fixed IP). On drivers with address
   * ACLs (tgt) the target is then bound to this address *instead of* the initiator name: tgt lets an
   * initiator in when its address OR its name is on the list (usr/iscsi/target.c: a login is refused
   * only when `ip_acl() && iqn_acl()` both fail), so binding both would let the name in from anywhere.
   * Bound by address alone, a login from another address is refused by tgtd itself, and CHAP (a fresh
   * secret per session) is what a client at that address must still know.
   */
  allowedAddress?: string | null;
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
  /** Initiator addresses allowed (tgt address ACLs: targets of machines with a fixed IP). */
  addresses: string[];
  chapUsers: string[];
  mutualUser: string | null;
  connections: LiveConnection[];
}

export interface IscsiTargetDriver {
  readonly backend: 'tgt' | 'lio';
  /** LUN number of the first data disk (tgt 1: its LUN 0 is the controller; LIO 0). */
  readonly firstLun: number;
  /** The driver can restrict a target to one client address (tgt: yes; LIO: no). */
  readonly addressAcl: boolean;
  createTarget(iqn: string): Promise<void>;
  addLun(iqn: string, lun: LunSpec): Promise<void>;
  removeLun(iqn: string, lun: number): Promise<void>;
  bindInitiator(iqn: string, initiatorIqn: string): Promise<void>;
  unbindInitiator(iqn: string, initiatorIqn: string): Promise<void>;
  /** Address ACL (only where addressAcl): logins from any other address are refused by the target. */
  bindAddress(iqn: string, address: string): Promise<void>;
  unbindAddress(iqn: string, address: string): Promise<void>;
  /** Incoming CHAP for that initiator, plus mutual CHAP when given. */
  setChap(
    iqn: string,
    initiatorIqn: string,
    chap: ChapCredentials,
    mutual: ChapCredentials | null,
  ): Promise<void>;
  /** Removes the target (with force: also with initiators logged in) and what belongs to it only. */
  deleteTarget(iqn: string, opts: { force: boolean }): Promise<void>;
  /**
   * CHAP accounts that exist in the daemon (tgt: accounts are global; LIO keeps them in the ACL and
   * has none of its own: undefined).
   */
  accounts?(): Promise<string[]>;
  /** Deletes an account (tgt also unbinds it from every target). Never while it is a target's only one. */
  deleteAccount?(user: string): Promise<void>;
  /**
   * Bytes received so far on one connection (tgt: rxdata_octets), null when the connection is gone.
   * A client that is alive answers the target's NOP-In pings, so this grows at least once per ping
   * interval; a client that was reset leaves it still.
   */
  connectionRx?(iqn: string, c: LiveConnection): Promise<number | null>;
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

export function checkAddress(a: string): string {
  if (!IPV4_RE.test(a)) throw new Error(`invalid initiator address: ${a}`);
  return a;
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
    if (byAddress(driver, spec)) await driver.bindAddress(spec.iqn, spec.allowedAddress!);
    else await driver.bindInitiator(spec.iqn, spec.initiatorIqn);
  } catch (err) {
    await driver.deleteTarget(spec.iqn, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Whether a spec's target is bound to its client address (instead of the initiator name). */
export const byAddress = (driver: Pick<IscsiTargetDriver, 'addressAcl'>, spec: TargetSpec): boolean =>
  !!spec.allowedAddress && driver.addressAcl;

export interface TargetDrift {
  missingLuns: LunSpec[];
  /** LUNs whose backing path differs from the desired one. */
  wrongLuns: LunSpec[];
  extraLuns: number[];
  missingInitiator: boolean;
  extraInitiators: string[];
  /** Address ACL wanted but not bound (fixed-IP machines on tgt). */
  missingAddress: string | null;
  extraAddresses: string[];
  /** Incoming CHAP users the target lacks, and users bound to it that are not its own (older sessions'). */
  missingChapUsers: string[];
  extraChapUsers: string[];
  /** The outgoing (mutual) user differs. */
  mutualMismatch: boolean;
  /** Any CHAP difference (the three above). */
  chapMismatch: boolean;
}

/** What differs between a desired target and the live one (the reconciler repairs it). */
export function targetDrift(
  spec: TargetSpec,
  live: LiveTarget,
  firstLun: number,
  addressAcl = false,
): TargetDrift {
  const liveLuns = new Map(live.luns.filter((l) => l.lun >= firstLun).map((l) => [l.lun, l.path]));
  const wanted = new Set(spec.luns.map((l) => l.lun));
  const expectedUsers = spec.chap ? [spec.chap.user] : [];
  const address = byAddress({ addressAcl }, spec) ? spec.allowedAddress! : null;
  const missingChapUsers = expectedUsers.filter((u) => !live.chapUsers.includes(u));
  const extraChapUsers = live.chapUsers.filter((u) => !expectedUsers.includes(u));
  const mutualMismatch = (spec.mutual?.user ?? null) !== live.mutualUser;
  return {
    missingLuns: spec.luns.filter((l) => !liveLuns.has(l.lun)),
    wrongLuns: spec.luns.filter((l) => liveLuns.has(l.lun) && liveLuns.get(l.lun) !== l.path),
    extraLuns: [...liveLuns.keys()].filter((n) => !wanted.has(n)),
    // bound by address, the target must have no initiator-name entry (tgt ORs the two lists)
    missingInitiator: !address && !live.initiators.includes(spec.initiatorIqn),
    extraInitiators: live.initiators.filter((i) => address !== null || i !== spec.initiatorIqn),
    missingAddress: address && !live.addresses.includes(address) ? address : null,
    extraAddresses: live.addresses.filter((a) => a !== address),
    missingChapUsers,
    extraChapUsers,
    mutualMismatch,
    chapMismatch: missingChapUsers.length > 0 || extraChapUsers.length > 0 || mutualMismatch,
  };
}

export const hasDrift = (d: TargetDrift) =>
  d.missingLuns.length > 0 ||
  d.wrongLuns.length > 0 ||
  d.extraLuns.length > 0 ||
  d.missingInitiator ||
  d.extraInitiators.length > 0 ||
  d.missingAddress !== null ||
  d.extraAddresses.length > 0 ||
  d.chapMismatch;
