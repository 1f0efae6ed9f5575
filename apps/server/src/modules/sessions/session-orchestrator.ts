import type { Logger } from 'pino';
import type { EndReason, Lun, Settings } from '@ggnet/contracts';
import { conflict, notFound } from '../../errors/app-error.js';
import { isUniqueViolation, nowIso, uniqueViolationColumn } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import { targetIqn } from '../../lib/iqn.js';
import { KeyedMutex } from '../../lib/keyed-mutex.js';
import { parseJson } from '../../lib/json.js';
import type { IscsiRuntime } from '../targets/iscsi.runtime.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { EffectiveResolver } from '../groups/effective-resolver.js';
import type { MachineRow, MachinesRepository } from '../machines/machines.repository.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { StorageService } from '../writebacks/storage.service.js';
import type { WritebackRow, WritebacksRepository } from '../writebacks/writebacks.repository.js';
import type { TargetManager } from '../targets/target-manager.js';
import type { TargetRow, TargetsRepository } from '../targets/targets.repository.js';
import type { BootSessionInfo, BootSessionRequest, BootSessionStarter } from './boot-session.js';
import { toSession, type SessionRow, type SessionsRepository } from './sessions.repository.js';
import type { PreparedBootRow, PreparedBootsRepository } from './prepared-boots.repository.js';

export interface OrchestratorDeps {
  sessions: SessionsRepository;
  /** Boots prepared ahead of their request (prepare, claim, undo: see prepare()). */
  prepared: PreparedBootsRepository;
  targets: TargetsRepository;
  writebacks: WritebacksRepository;
  machines: MachinesRepository;
  images: ImagesRepository;
  storage: StorageService;
  targetManager: TargetManager;
  iscsi: IscsiRuntime;
  settings: SettingsService;
  /** What a machine boots with: its settings after inheritance (group, defaults) and ring releases. */
  effective: Pick<EffectiveResolver, 'forMachine'>;
  bus: EventBus;
  log: Logger;
}

/** The CHAP user of one session: `<machine>.s<first 8 hex digits of the session id>`. */
export const sessionChapUser = (machineName: string, sessionId: string): string =>
  `${machineName}.s${sessionId.replace(/-/g, '').slice(0, 8)}`;

/** `portal`: the client address and the port of the daemon that serves the target. */
function bootInfo(
  sessionId: string,
  state: 'ready',
  target: TargetRow,
  portal: { host: string; port: number },
): BootSessionInfo {
  const luns = parseJson<Lun[]>(target.luns, []);
  return {
    sessionId,
    state,
    targetIqn: target.iqn,
    portalHost: portal.host,
    portalPort: portal.port,
    initiatorIqn: target.initiator_iqn,
    luns: luns.map((l) => ({ lun: l.lun, kind: l.kind, imageId: l.imageId!, versionId: l.versionId! })),
    chap: { username: target.chap_user!, password: target.chap_secret! },
    reverseChap:
      target.mutual_user && target.mutual_secret
        ? { username: target.mutual_user, password: target.mutual_secret }
        : null,
  };
}

interface Disk {
  kind: 'boot' | 'extra';
  imageId: string;
  versionId: string;
}

/** The LUN entry of a disk served from a writeback. */
const lunOf = (disk: Disk, wb: WritebackRow, lun: number): Lun => ({
  lun,
  kind: disk.kind,
  imageId: disk.imageId,
  versionId: wb.version_id,
  writebackId: wb.id,
  sizeBytes: wb.size_bytes === null ? null : Number(wb.size_bytes),
});

/** What prepare() did for a machine. */
export type PrepareOutcome =
  'prepared' | 'ready' | 'gone' | 'off' | 'not_eligible' | 'live' | 'no_image' | 'undone';

/**
 * Boot sessions end to end: a boot ends the machine's previous session (its target goes, its writeback
 * too unless kept), makes fresh writebacks (boot disk + extra disks) and a target with ACL and CHAP,
 * and answers with what the iPXE script needs. One lock per machine: boots of different machines run
 * in parallel; two boots of one machine run one after the other and leave exactly one live session
 * (the database's unique index backs this up across processes).
 */
export class SessionOrchestrator implements BootSessionStarter {
  readonly machineLocks = new KeyedMutex();
  private cold = 0;
  /** Boots served since start: claimed from a preparation, or built while the PC waited (metrics). */
  readonly startsByKind = { prepared: 0, cold: 0 };

  constructor(private readonly d: OrchestratorDeps) {}

  /** Session starts building their target right now (the background preparation gives way to them). */
  get coldStartsInFlight(): number {
    return this.cold;
  }

  startSession(req: BootSessionRequest): Promise<BootSessionInfo> {
    return this.machineLocks.run(req.machineId, () => this.start(req, 0));
  }

  /** Ends a session (idempotent). Its target is removed; its writebacks are discarded unless kept. */
  endSession(
    sessionId: string,
    reason: EndReason,
    opts: { keepWriteback?: boolean; error?: string } = {},
  ): Promise<boolean> {
    return (async () => {
      const s = await this.d.sessions.findById(sessionId);
      if (!s) throw notFound('session', sessionId);
      return this.machineLocks.run(s.machine_id, () => this.end(s, reason, opts));
    })();
  }

  // ---- start ----------------------------------------------------------------------

  /** The disks of the machine's effective settings, each at the version it boots (ring or published). */
  private async disksFor(m: MachineRow): Promise<{ disks: Disk[]; keepWriteback: boolean }> {
    const eff = await this.d.effective.forMachine(m);
    if (!eff.disks.some((d) => d.kind === 'boot'))
      throw conflict(
        'no_boot_image',
        `machine ${m.name} has no boot image and there is no default image`,
        'assign an image to the machine or its group (bootImageId) or set machines.defaultImageId',
      );
    const disks: Disk[] = [];
    for (const d of eff.disks) {
      const img = await this.d.images.findRow(d.imageId);
      if (!img) throw notFound('image', d.imageId);
      if (!d.versionId)
        throw conflict(
          'image_not_published',
          `image ${img.name} has no published version`,
          'publish a ready version of the image first',
        );
      await this.d.storage.readyVersion(d.imageId, d.versionId);
      disks.push({ kind: d.kind, imageId: d.imageId, versionId: d.versionId });
    }
    return { disks, keepWriteback: eff.settings.keepWriteback.value };
  }

  private async start(req: BootSessionRequest, attempt: number): Promise<BootSessionInfo> {
    const m = await this.d.machines.findById(req.machineId);
    if (!m) throw notFound('machine', req.machineId);
    if (m.pending)
      throw conflict(
        'machine_pending',
        `machine ${m.name} waits for approval`,
        'approve it first (pending: false)',
      );
    if (!m.enabled && !req.console)
      throw conflict('machine_disabled', `machine ${m.name} is disabled`, 'enable it first');
    if (attempt === 0) {
      // a boot prepared ahead: the database only, no writeback or target is made while the PC waits
      const claimed = await this.claimPrepared(m, req);
      if (claimed) {
        this.startsByKind.prepared++;
        return claimed;
      }
    }
    this.startsByKind.cold++;
    this.cold++;
    try {
      return await this.startCold(m, req, attempt);
    } finally {
      this.cold--;
    }
  }

  private async startCold(m: MachineRow, req: BootSessionRequest, attempt: number): Promise<BootSessionInfo> {
    const s = await this.d.settings.get();
    const { disks, keepWriteback } = await this.disksFor(m);
    const driver = await this.d.iscsi.driver();
    // no disk service (GGnet's tgtd is down, or its control port is held by a tgtd not ours): the
    // client is told so instead of being sent to a portal nobody serves
    await this.d.iscsi.assertServing();
    await this.d.iscsi.clientPortal();

    const prev = await this.d.sessions.liveForMachine(m.id);
    if (prev) await this.end(prev, 'rebooted', {});
    // a prepared boot this request could not use (another mode, stale): its target has this name
    const stale = await this.d.prepared.findByMachine(m.id);
    if (stale) await this.undo(stale);

    const sessionId = newId();
    const now = nowIso();
    const session: SessionRow = {
      id: sessionId,
      machine_id: m.id,
      image_id: disks[0]!.imageId,
      version_id: disks[0]!.versionId,
      target_id: null,
      writeback_id: null,
      mode: req.mode,
      state: 'starting',
      end_reason: null,
      error: null,
      client_ip: req.clientIp,
      started_at: now,
      ready_at: null,
      active_at: null,
      ended_at: null,
      last_activity_at: null,
      connections: '[]',
      traffic: null,
    };
    try {
      await this.d.sessions.insert(session);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      if (uniqueViolationColumn(err) === 'image_id' || req.mode === 'maintenance') {
        const other = (await this.d.sessions.live()).find(
          (x) => x.mode === 'maintenance' && x.image_id === session.image_id && x.machine_id !== m.id,
        );
        if (other) {
          const om = await this.d.machines.findById(other.machine_id);
          throw conflict(
            'maintenance_in_progress',
            `machine ${om?.name ?? other.machine_id} is already in maintenance on this image`,
            `apply or stop session ${other.id} first: one maintenance session per image at a time`,
          );
        }
      }
      // another GGnet process started a session for this machine at the same moment: replace it once
      if (attempt > 0)
        throw conflict('session_race', 'the machine keeps starting sessions concurrently', 'retry');
      const other = await this.d.sessions.liveForMachine(m.id);
      if (other) await this.end(other, 'replaced', {});
      return this.start(req, attempt + 1);
    }

    const made: WritebackRow[] = [];
    const reused: WritebackRow[] = [];
    let target: TargetRow | null = null;
    try {
      const luns: Lun[] = [];
      let lun = driver.firstLun;
      for (const disk of disks) {
        let wb: WritebackRow | undefined;
        // keep-writeback machines and maintenance continue on their kept disk (e.g. across update reboots)
        if (keepWriteback || req.mode === 'maintenance') {
          const kept = await this.d.writebacks.findKept(m.id, disk.imageId);
          if (kept && (await this.d.storage.attach(kept.id, sessionId, null, lun))) {
            wb = kept;
            reused.push(kept);
          }
        }
        if (!wb) {
          wb = await this.d.storage.create({
            machineId: m.id,
            imageId: disk.imageId,
            versionId: disk.versionId,
            sessionId,
            targetId: null,
            lun,
            kept: req.mode === 'maintenance',
          });
          made.push(wb);
        }
        luns.push(lunOf(disk, wb, lun));
        lun++;
      }

      target = await this.makeTarget(m, s, sessionId, luns, driver.backend, (t) => (target = t));

      const bootWb = luns[0]!;
      await this.d.sessions.update(sessionId, {
        state: 'ready',
        target_id: target.id,
        writeback_id: bootWb.writebackId,
        version_id: bootWb.versionId,
        ready_at: nowIso(),
      });
      const out = await this.d.sessions.findById(sessionId);
      this.d.bus.publish('session.started', sessionId, out ? toSession(out) : null);
      this.d.bus.publish('target.created', target.id, { id: target.id, iqn: target.iqn, sessionId });
      return bootInfo(sessionId, 'ready', target, await this.d.iscsi.clientPortal(target.tgt_daemon));
    } catch (err) {
      // undo everything: no half-made target, no orphan writeback, the session ends with the error
      if (target) {
        await this.d.targetManager.unprovision(target.iqn).catch(() => undefined);
        await this.d.targets.delete(target.id).catch(() => undefined);
      }
      for (const w of made) await this.d.storage.discard(w.id).catch(() => undefined);
      for (const w of reused) await this.d.storage.keep(w.id).catch(() => undefined);
      await this.d.sessions.update(
        sessionId,
        { state: 'ended', end_reason: 'error', error: (err as Error).message, ended_at: nowIso() },
        { notState: 'ended' },
      );
      const out = await this.d.sessions.findById(sessionId).catch(() => undefined);
      if (out) this.d.bus.publish('session.ended', sessionId, toSession(out));
      this.d.log.error({ err, machine: m.name }, 'session start failed');
      throw err;
    }
  }

  /**
   * The target of a boot (a session's or a prepared one): its row with a CHAP user of its own per
   * session (an account left behind by an earlier session can never be mistaken for this one's, and
   * a secret seen once names an account that no longer exists), its writebacks bound to it, made on
   * the host and active. `made` learns the row as soon as it exists (for the caller's undo).
   */
  private async makeTarget(
    m: MachineRow,
    s: Settings,
    sessionId: string,
    luns: Lun[],
    backend: 'tgt' | 'lio',
    made: (t: TargetRow) => void,
  ): Promise<TargetRow> {
    const target = await this.d.targetManager.newRow(m.id, {
      iqn: targetIqn(s.iscsi, m.name),
      chapUser: sessionChapUser(m.name, sessionId),
      sessionId,
      luns,
      initiatorIqn: m.initiator_iqn,
      allowedAddress: m.ip,
      mutual: s.iscsi.mutualChap,
      backend,
    });
    made(target);
    await this.d.targets.insert(target);
    for (const l of luns) await this.d.writebacks.update(l.writebackId!, { target_id: target.id });
    await this.d.targetManager.provision(target);
    await this.d.targets.setState(target.id, 'active', ['pending']);
    return target;
  }

  // ---- prepared boots ---------------------------------------------------------------

  /**
   * What a prepared boot of this machine must match: its name, ACL, target name, CHAP mode and the
   * published versions of its disks. Database reads only (the claim runs it while the PC waits).
   * Null when the machine cannot be prepared (no image, not published, another mode).
   */
  private async plan(m: MachineRow, s: Settings): Promise<{ fingerprint: string } | null> {
    if (m.pending || !m.enabled) return null;
    // the machine's effective settings (machine -> group -> default) and versions (ring -> published)
    const eff = await this.d.effective.forMachine(m);
    // install mode is maintenance with a medium: never a plain prepared sanboot
    if (eff.settings.bootMode.value !== 'normal' || eff.settings.keepWriteback.value) return null;
    if (!eff.disks.some((d) => d.kind === 'boot')) return null;
    const disks: Array<[string, string, string]> = [];
    for (const d of eff.disks) {
      if (!d.versionId) return null;
      disks.push([d.kind, d.imageId, d.versionId]);
    }
    return {
      fingerprint: JSON.stringify({
        name: m.name,
        iqn: targetIqn(s.iscsi, m.name),
        initiator: m.initiator_iqn,
        ip: m.ip,
        mutual: s.iscsi.mutualChap,
        disks,
      }),
    };
  }

  /**
   * Prepares the machine's next boot (normal mode): writebacks, target with LUNs, ACL and a CHAP
   * account of its own, under the session id the boot will have. Idempotent: a preparation that
   * still matches the machine is left as it is, a stale one is undone first, and a machine that
   * cannot be prepared (live session, other mode, kept writeback, no published image, disabled)
   * loses any preparation it had.
   */
  prepare(machineId: string): Promise<PrepareOutcome> {
    return this.machineLocks.run(machineId, () => this.prepareLocked(machineId));
  }

  /** Undoes the machine's prepared boot, if any (target and writebacks go). */
  unprepare(machineId: string): Promise<boolean> {
    return this.machineLocks.run(machineId, async () => {
      const p = await this.d.prepared.findByMachine(machineId);
      return p ? this.undo(p) : false;
    });
  }

  private async prepareLocked(machineId: string): Promise<PrepareOutcome> {
    const m = await this.d.machines.findById(machineId);
    if (!m) return 'gone';
    const s = await this.d.settings.get();
    const existing = await this.d.prepared.findByMachine(m.id);
    if (await this.d.sessions.liveForMachine(m.id)) {
      // a machine with a live session has no prepared boot (both would be the same target name)
      if (existing) await this.undo(existing);
      return 'live';
    }
    const plan = s.boot.prepareAhead ? await this.plan(m, s) : null;
    if (existing && plan && existing.fingerprint === plan.fingerprint) {
      // one left half-made by a crash is made again; a ready one stays
      if (existing.state === 'ready') return 'ready';
      if (Date.now() - Date.parse(existing.created_at) < 120_000) return 'ready';
    }
    if (existing) await this.undo(existing);
    if (!s.boot.prepareAhead) return existing ? 'undone' : 'off';
    if (!plan) {
      if (existing) return 'undone';
      const eff = await this.d.effective.forMachine(m);
      return eff.disks.some((d) => d.kind === 'boot') ? 'not_eligible' : 'no_image';
    }

    const { disks } = await this.disksFor(m);
    const driver = await this.d.iscsi.driver();
    const sessionId = newId();
    // the row first: the reconciler keeps what a preparation in progress has made
    await this.d.prepared.insert({
      machine_id: m.id,
      session_id: sessionId,
      target_id: null,
      state: 'preparing',
      fingerprint: plan.fingerprint,
      created_at: nowIso(),
      ready_at: null,
    });
    const made: WritebackRow[] = [];
    let target: TargetRow | null = null;
    try {
      const luns: Lun[] = [];
      let lun = driver.firstLun;
      for (const disk of disks) {
        const wb = await this.d.storage.create({
          machineId: m.id,
          imageId: disk.imageId,
          versionId: disk.versionId,
          sessionId,
          targetId: null,
          lun,
          kept: false,
        });
        made.push(wb);
        luns.push(lunOf(disk, wb, lun));
        lun++;
      }
      target = await this.makeTarget(m, s, sessionId, luns, driver.backend, (t) => (target = t));
      if (!(await this.d.prepared.markReady(m.id, sessionId, target.id)))
        throw new Error('the preparation was undone while it was made');
      this.d.bus.publish('machine.prepared', m.id, { machineId: m.id, targetId: target.id });
      return 'prepared';
    } catch (err) {
      if (target) {
        await this.d.targetManager.unprovision(target.iqn).catch(() => undefined);
        await this.d.targets.delete(target.id).catch(() => undefined);
      }
      for (const w of made) await this.d.storage.discard(w.id).catch(() => undefined);
      await this.d.prepared.remove(m.id, sessionId).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Undoes a prepared boot (the caller holds the machine's lock): the row goes first (nobody can
   * claim it any more), then its target (and with it its CHAP account) and its writebacks. What
   * cannot be removed now is left to the reconciler (no row names it as prepared any more).
   */
  private async undo(p: PreparedBootRow): Promise<boolean> {
    if (!(await this.d.prepared.remove(p.machine_id, p.session_id))) return false;
    let targetsGone = true;
    for (const t of await this.d.targets.bySession(p.session_id)) {
      await this.d.targets.setState(t.id, 'deleting', ['pending', 'active', 'error']);
      try {
        await this.d.targetManager.unprovision(t.iqn);
        await this.d.targets.delete(t.id);
      } catch (err) {
        targetsGone = false;
        this.d.log.warn(
          { err, iqn: t.iqn },
          'could not remove a prepared target yet; the reconciler retries',
        );
      }
    }
    for (const w of await this.d.writebacks.bySession(p.session_id)) {
      if (!['ready', 'creating', 'error'].includes(w.state)) continue;
      if (targetsGone) await this.d.storage.discardSoon(w.id);
      else await this.d.writebacks.update(w.id, { state: 'discarding' });
    }
    this.d.bus.publish('machine.unprepared', p.machine_id, { machineId: p.machine_id });
    return true;
  }

  /**
   * The boot of a prepared machine: claims its prepared boot (one conditional DELETE and the session's
   * INSERT in one transaction, so two requests never both get it) and answers with its target and
   * secrets. Database only: no tgtd request, no file. Null when there is none that still matches the
   * machine (the caller then builds the session as before, undoing the stale one).
   */
  private async claimPrepared(m: MachineRow, req: BootSessionRequest): Promise<BootSessionInfo | null> {
    if (req.mode !== 'normal') return null;
    const p = await this.d.prepared.findByMachine(m.id);
    if (!p || p.state !== 'ready' || !p.target_id) return null;
    const s = await this.d.settings.get();
    const plan = await this.plan(m, s);
    if (!plan || plan.fingerprint !== p.fingerprint) return null;
    const target = await this.d.targets.findById(p.target_id);
    if (!target || target.state !== 'active' || target.session_id !== p.session_id) return null;
    if (!target.chap_user || !target.chap_secret) return null;
    const luns = parseJson<Lun[]>(target.luns, []);
    const boot = luns[0];
    if (!boot?.writebackId || !boot.versionId) return null;
    const portal = await this.d.iscsi.clientPortal(target.tgt_daemon);
    const now = nowIso();
    const session: SessionRow = {
      id: p.session_id,
      machine_id: m.id,
      image_id: boot.imageId ?? null,
      version_id: boot.versionId,
      target_id: target.id,
      writeback_id: boot.writebackId,
      mode: 'normal',
      state: 'ready',
      end_reason: null,
      error: null,
      client_ip: req.clientIp,
      started_at: now,
      ready_at: now,
      active_at: null,
      ended_at: null,
      last_activity_at: null,
      connections: '[]',
      traffic: null,
    };
    if (!(await this.d.prepared.claim(p, (trx) => this.d.sessions.insert(session, trx)))) return null;
    const out = await this.d.sessions.findById(p.session_id);
    this.d.bus.publish('session.started', p.session_id, out ? { ...toSession(out), prepared: true } : null);
    return bootInfo(p.session_id, 'ready', target, portal);
  }

  /**
   * What the boot script needs for a session that is still `ready` and that no initiator has logged
   * in to yet: the same target and secrets, handed again to the client that asked first (a repeat
   * request of one boot must not restart it). Null when the session is past that point.
   */
  async resumeSession(sessionId: string): Promise<BootSessionInfo | null> {
    const first = await this.d.sessions.findById(sessionId);
    if (!first) return null;
    return this.machineLocks.run(first.machine_id, async () => {
      const s = await this.d.sessions.findById(sessionId);
      if (!s || s.state !== 'ready' || s.active_at || !s.target_id) return null;
      const target = await this.d.targets.findById(s.target_id);
      if (!target || target.state !== 'active' || !target.chap_user || !target.chap_secret) return null;
      await this.d.iscsi.assertServing();
      return bootInfo(s.id, 'ready', target, await this.d.iscsi.clientPortal(target.tgt_daemon));
    });
  }

  // ---- end ------------------------------------------------------------------------

  private async end(
    s: SessionRow,
    reason: EndReason,
    opts: { keepWriteback?: boolean; error?: string },
  ): Promise<boolean> {
    const n = await this.d.sessions.update(
      s.id,
      {
        state: 'ended',
        end_reason: reason,
        ended_at: nowIso(),
        error: opts.error ?? null,
        connections: '[]',
      },
      { notState: 'ended' },
    );
    if (!n) return false;
    const m = await this.d.machines.findById(s.machine_id);
    const keepWriteback = m ? (await this.d.effective.forMachine(m)).settings.keepWriteback.value : false;
    // maintenance work survives reboots and idle ends: only an explicit stop (or apply) drops it
    const keepAll =
      !!opts.keepWriteback ||
      keepWriteback ||
      (s.mode === 'maintenance' && reason !== 'stopped' && reason !== 'applied');
    // `applied`: the boot disk is about to become a version, so it must not be discarded
    const keep = (w: WritebackRow) => keepAll || (reason === 'applied' && w.id === s.writeback_id);
    let targetsGone = true;
    for (const t of await this.d.targets.bySession(s.id)) {
      await this.d.targets.setState(t.id, 'deleting', ['pending', 'active', 'error']);
      try {
        await this.d.targetManager.unprovision(t.iqn);
        await this.d.targets.delete(t.id);
        this.d.bus.publish('target.deleted', t.id, { id: t.id, iqn: t.iqn });
      } catch (err) {
        targetsGone = false;
        this.d.log.warn({ err, iqn: t.iqn }, 'could not remove a target yet; the reconciler retries');
      }
    }
    for (const w of await this.d.writebacks.bySession(s.id)) {
      if (!['ready', 'creating', 'error'].includes(w.state)) continue;
      if (keep(w)) await this.d.storage.keep(w.id);
      // a reboot does not wait for its old disk to be deleted
      else if (targetsGone && (reason === 'rebooted' || reason === 'replaced'))
        await this.d.storage.discardSoon(w.id);
      else if (targetsGone) await this.d.storage.discard(w.id);
      // the target may still serve the file: the reconciler discards it once the target is gone
      else await this.d.writebacks.update(w.id, { state: 'discarding' });
    }
    const out = await this.d.sessions.findById(s.id);
    this.d.bus.publish('session.ended', s.id, out ? toSession(out) : null);
    return true;
  }
}
