import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Lun } from '@ggnet/contracts';
import {
  TargetExistsError,
  createTargetFromSpec,
  hasDrift,
  targetDrift,
  type LiveTarget,
  type TargetSpec,
} from '../../adapters/iscsi/iscsi-target.adapter.js';
import { nowIso } from '../../db/database.js';
import { chapSecret, newId } from '../../lib/ids.js';
import { KeyedMutex } from '../../lib/keyed-mutex.js';
import { parseJson } from '../../lib/json.js';
import type { IscsiRuntime } from './iscsi.runtime.js';
import type { StorageService } from '../writebacks/storage.service.js';
import type { WritebacksRepository } from '../writebacks/writebacks.repository.js';
import type { TargetRow, TargetsRepository } from './targets.repository.js';

/** SCSI serial of a LUN: stable for a target name and LUN, so the client OS sees the same disk every boot. */
export const lunSerial = (iqn: string, lun: number) =>
  createHash('sha256').update(`${iqn}#${lun}`).digest('hex').slice(0, 16);

/** What a new targets row is made of (the session orchestrator's and a manual target's). */
export interface NewTargetRow {
  iqn: string;
  chapUser: string;
  sessionId: string | null;
  luns: Lun[];
  initiatorIqn: string;
  allowedAddress: string | null;
  mutual: boolean;
  backend: 'tgt' | 'lio';
}

export type ReconcileAction = 'none' | 'created' | 'repaired' | 'skipped-connected' | 'failed';

/**
 * Puts targets rows onto the host through the iSCSI driver, one IQN at a time (a lock per IQN, shared
 * by session start and the reconciler, so they never work on the same target at once).
 */
export class TargetManager {
  readonly locks = new KeyedMutex();

  constructor(
    private readonly repo: TargetsRepository,
    private readonly writebacks: WritebacksRepository,
    private readonly storage: StorageService,
    private readonly iscsi: IscsiRuntime,
    private readonly log: Logger,
  ) {}

  /**
   * A targets row (not yet stored) with fresh CHAP secrets of its own (and a mutual one when asked):
   * they live exactly as long as the row, i.e. the session or the manual target.
   */
  async newRow(machineId: string, o: NewTargetRow): Promise<TargetRow> {
    const mutualSecret = o.mutual ? chapSecret(16) : null;
    // an older target of the same name (left over after a crash) goes first
    const stale = await this.repo.findByIqn(o.iqn);
    if (stale) {
      await this.unprovision(stale.iqn);
      await this.repo.delete(stale.id);
    }
    const now = nowIso();
    return {
      id: newId(),
      iqn: o.iqn,
      machine_id: machineId,
      session_id: o.sessionId,
      backend: o.backend,
      luns: JSON.stringify(o.luns),
      initiator_iqn: o.initiatorIqn,
      chap_user: o.chapUser,
      chap_secret: chapSecret(16),
      mutual_user: mutualSecret ? `tgt.${o.chapUser}` : null,
      mutual_secret: mutualSecret,
      allowed_address: o.allowedAddress,
      state: 'pending',
      error: null,
      created_at: now,
      updated_at: now,
    };
  }

  /** The desired target of a row: LUNs backed by its writebacks' files, ACL, CHAP. */
  async specFor(row: TargetRow): Promise<TargetSpec> {
    const luns = parseJson<Lun[]>(row.luns, []);
    const wbs = new Map(
      (await this.writebacks.findByIds(luns.map((l) => l.writebackId).filter((x): x is string => !!x))).map(
        (w) => [w.id, w],
      ),
    );
    const specLuns = [];
    for (const l of luns) {
      const wb = l.writebackId ? wbs.get(l.writebackId) : undefined;
      if (!wb?.path) throw new Error(`target ${row.iqn}: LUN ${l.lun} has no writeback`);
      specLuns.push({
        lun: l.lun,
        ...(await this.storage.lunBacking(wb)),
        serial: lunSerial(row.iqn, l.lun),
      });
    }
    return {
      iqn: row.iqn,
      luns: specLuns,
      initiatorIqn: row.initiator_iqn,
      allowedAddress: row.allowed_address,
      chap: row.chap_user && row.chap_secret ? { user: row.chap_user, secret: row.chap_secret } : null,
      mutual:
        row.mutual_user && row.mutual_secret ? { user: row.mutual_user, secret: row.mutual_secret } : null,
    };
  }

  /**
   * Creates the target of a row on the host, all or nothing. A live target with the same name that no
   * session owns any more (left over) is replaced.
   */
  async provision(row: TargetRow): Promise<void> {
    await this.locks.run(row.iqn, async () => {
      const driver = await this.iscsi.driver();
      const spec = await this.specFor(row);
      try {
        await createTargetFromSpec(driver, spec);
      } catch (err) {
        if (!(err instanceof TargetExistsError)) throw err;
        this.log.warn({ iqn: row.iqn }, 'replacing a left-over target with the same name');
        await driver.deleteTarget(row.iqn, { force: true });
        await createTargetFromSpec(driver, spec);
      }
      this.iscsi.invalidate();
    });
  }

  /** Removes a target from the host (force: logged-in initiators are dropped). Idempotent. */
  async unprovision(iqn: string): Promise<void> {
    await this.locks.run(iqn, async () => {
      await (await this.iscsi.driver()).deleteTarget(iqn, { force: true });
      this.iscsi.invalidate();
    });
  }

  /** True when the live target differs from its row (missing, LUNs, ACL, CHAP). */
  async drifted(row: TargetRow, live: LiveTarget | undefined): Promise<boolean> {
    if (!live) return true;
    const driver = await this.iscsi.driver();
    return hasDrift(targetDrift(await this.specFor(row), live, driver.firstLun, driver.addressAcl));
  }

  /**
   * Makes one live target match its row, under the target's lock and from a fresh read of the live
   * state. Missing targets are created; drift is repaired in place (LUNs, ACL, CHAP) unless an
   * initiator of a live session is logged in and a LUN would change: a running client's disk is
   * never pulled.
   */
  async repair(row: TargetRow, sessionLive: boolean): Promise<ReconcileAction> {
    return this.locks.run(row.iqn, async () => {
      const current = await this.repo.findById(row.id);
      if (!current || current.state === 'deleting') return 'none';
      const driver = await this.iscsi.driver();
      const spec = await this.specFor(current);
      const live = (await driver.list()).find((t) => t.iqn === current.iqn);
      if (!live) {
        await createTargetFromSpec(driver, spec);
        this.iscsi.invalidate();
        this.log.warn({ iqn: current.iqn }, 'recreated a missing target');
        return 'created';
      }
      const d = targetDrift(spec, live, driver.firstLun, driver.addressAcl);
      if (!hasDrift(d)) return 'none';
      const connected = live.connections.length > 0;
      if (connected && sessionLive && (d.wrongLuns.length || d.extraLuns.length)) {
        // changing a LUN under a running client would corrupt its disk: leave it, report it
        this.log.error(
          { iqn: current.iqn, drift: d },
          'target differs from the database but a client is using it',
        );
        return 'skipped-connected';
      }
      for (const l of d.wrongLuns) {
        await driver.removeLun(current.iqn, l.lun);
        await driver.addLun(current.iqn, l);
      }
      for (const n of d.extraLuns) await driver.removeLun(current.iqn, n);
      for (const l of d.missingLuns) await driver.addLun(current.iqn, l);
      if (d.chapMismatch && spec.chap) {
        // an outgoing account is bound once per target: the wrong one goes before the right one comes
        if (d.mutualMismatch && live.mutualUser && driver.deleteAccount)
          await driver.deleteAccount(live.mutualUser);
        if (d.missingChapUsers.length || d.mutualMismatch)
          await driver.setChap(current.iqn, spec.initiatorIqn, spec.chap, spec.mutual);
        // accounts of other (older) sessions go only after the session's own one is bound: a tgt
        // target with no incoming account at all lets anyone in without CHAP
        for (const u of d.extraChapUsers) await driver.deleteAccount?.(u);
      }
      // ACL changes narrow first, then widen: removing an entry never lets anyone new in
      for (const i of d.extraInitiators) await driver.unbindInitiator(current.iqn, i);
      for (const a of d.extraAddresses) await driver.unbindAddress(current.iqn, a);
      if (d.missingAddress) await driver.bindAddress(current.iqn, d.missingAddress);
      if (d.missingInitiator) await driver.bindInitiator(current.iqn, spec.initiatorIqn);
      this.iscsi.invalidate();
      this.log.warn({ iqn: current.iqn, drift: d }, 'repaired a target that differed from the database');
      return 'repaired';
    });
  }

  /**
   * Re-adds the LUNs of a target backed by the given writebacks (their disk was served again after
   * its daemon restarted: tgt still holds the dead file open). The initiator's session stays; its
   * next command reads the new LUN.
   */
  async reattachLuns(row: TargetRow, writebackIds: Set<string>): Promise<number> {
    return this.locks.run(row.iqn, async () => {
      const driver = await this.iscsi.driver();
      const live = (await driver.list()).find((t) => t.iqn === row.iqn);
      if (!live) return 0;
      const luns = parseJson<Lun[]>(row.luns, []).filter(
        (l) => l.writebackId && writebackIds.has(l.writebackId),
      );
      if (!luns.length) return 0;
      const spec = await this.specFor(row);
      let n = 0;
      for (const l of luns) {
        const lun = spec.luns.find((x) => x.lun === l.lun);
        if (!lun || !live.luns.some((x) => x.lun === l.lun)) continue;
        await driver.removeLun(row.iqn, l.lun);
        await driver.addLun(row.iqn, lun);
        n++;
      }
      this.iscsi.invalidate();
      if (n) this.log.warn({ iqn: row.iqn, luns: n }, 're-added LUNs whose disk was exported again');
      return n;
    });
  }

  /** Removes a live target that no row describes (checked again under its lock). */
  async removeOrphan(iqn: string): Promise<boolean> {
    return this.locks.run(iqn, async () => {
      if (await this.repo.findByIqn(iqn)) return false;
      await (await this.iscsi.driver()).deleteTarget(iqn, { force: true });
      this.iscsi.invalidate();
      return true;
    });
  }
}
