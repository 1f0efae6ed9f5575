import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { StorageBackend } from '@ggnet/contracts';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { iqnPrefix } from '../../lib/iqn.js';
import type { MachinesRepository } from '../machines/machines.repository.js';
import type { SessionOrchestrator } from '../sessions/session-orchestrator.js';
import type { SessionRow, SessionsRepository } from '../sessions/sessions.repository.js';
import type { PreparedBootsRepository } from '../sessions/prepared-boots.repository.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { StorageService } from '../writebacks/storage.service.js';
import type { WritebacksRepository } from '../writebacks/writebacks.repository.js';
import type { TargetManager } from '../targets/target-manager.js';
import type { TargetsRepository } from '../targets/targets.repository.js';
import type { IscsiRuntime } from '../targets/iscsi.runtime.js';
import type { IscsiTargetDriver, LiveTarget } from '../../adapters/iscsi/iscsi-target.adapter.js';

export interface ReconcileReport {
  reason: string;
  targetsCreated: number;
  targetsRepaired: number;
  targetsRemoved: number;
  orphanTargetsRemoved: number;
  /** CHAP accounts of ended sessions (no target binds them, no row names them) deleted from the daemon. */
  accountsRemoved: number;
  writebacksDiscarded: number;
  appliesRecovered: number;
  orphanFilesRemoved: number;
  /** qcow2 backend: served disks exported again (daemon restarted) and their LUNs re-added. */
  exportsRecreated: number;
  /** qcow2 backend: exports and dead FUSE mounts that no served disk owns, removed. */
  exportsRemoved: number;
  sparesMade: number;
  sparesRemoved: number;
  sessionsEnded: number;
  skipped: string[];
  errors: string[];
}

/** A session start that has not finished after this long crashed half-way. */
const STARTING_TIMEOUT_MS = 120_000;
/** An event's pass waits at most this long for the boots in flight to finish (see schedule()). */
const MAX_DEFER_MS = 30_000;
/** Rows/files younger than this may belong to work in progress (a start, a manual target). */
const GRACE_MS = 60_000;

/**
 * Events after which the host may no longer match the database. Not `session.started`: a start
 * made and checked its target itself (or claimed one the reconciler already keeps), and a pass per
 * boot, each reading every target from tgtd, is what made a boot storm spread over 10 s slower
 * than the same storm at once (bench:boot-storm, reconcile passes per storm).
 */
const TRIGGERS =
  /^(session\.ended|target\.|writeback\.(created|discarded)|settings\.updated|iscsi\.restarted|storage\.qsd_restarted|machine\.deleted)/;

/**
 * The database says which targets and writebacks should exist; this makes tgtd/LIO and the disk
 * match, idempotently: at start-up, after every change (event bus) and every reconcileIntervalSec.
 * It creates what is missing, repairs drift, removes orphans that no session owns, finishes
 * interrupted ends and starts, and never pulls the disk of a client logged in to a live session.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private running: Promise<ReconcileReport> | null = null;
  private again: string | null = null;
  private unsubscribe: (() => void) | null = null;
  lastReport: ReconcileReport | null = null;
  /** When the last pass ended, and what failed in it (GET /api/v1/iscsi). */
  lastReconcileAt: string | null = null;
  lastReconcileError: string | null = null;
  /** Passes run and the time they took since start (metrics: what reconciling costs in a storm). */
  readonly totals = { passes: 0, ms: 0 };

  constructor(
    private readonly d: {
      targets: TargetsRepository;
      sessions: SessionsRepository;
      /** Boots prepared ahead: their targets and writebacks are wanted though no session owns them yet. */
      prepared: PreparedBootsRepository;
      writebacks: WritebacksRepository;
      machines: MachinesRepository;
      manager: TargetManager;
      storage: StorageService;
      orchestrator: SessionOrchestrator;
      iscsi: IscsiRuntime;
      settings: SettingsService;
      bus: EventBus;
      log: Logger;
    },
  ) {}

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => this.schedule('periodic'), intervalMs);
    this.timer.unref();
    this.unsubscribe = this.d.bus.subscribe((e) => {
      if (TRIGGERS.test(e.type)) this.schedule(e.type);
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.timer = null;
    this.debounce = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /**
   * Coalesced: a burst of changes leads to one pass (plus one more if changes arrive during it).
   * While boots build their sessions (a cold boot storm) an event's pass waits, up to
   * MAX_DEFER_MS: each start makes and checks its own target, and a pass reads every target from
   * tgtd and every row from the database, competing with the boots for tgtd and the CPU
   * (bench:boot-storm measured single passes of 60 s inside a storm on a loaded machine).
   */
  schedule(reason: string, since = Date.now()): void {
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      const busy = this.d.orchestrator.coldStartsInFlight > 0;
      if (busy && reason !== 'periodic' && Date.now() - since < MAX_DEFER_MS) {
        this.schedule(reason, since);
        return;
      }
      void this.run(reason).catch(() => undefined);
    }, 200);
    this.debounce.unref();
  }

  /** One pass; concurrent callers share it, and a pass requested meanwhile runs right after. */
  run(reason: string): Promise<ReconcileReport> {
    if (this.running) {
      this.again = reason;
      return this.running;
    }
    this.running = this.pass(reason).finally(() => {
      this.running = null;
      if (this.again) {
        const r = this.again;
        this.again = null;
        void this.run(r).catch(() => undefined);
      }
    });
    return this.running;
  }

  /** Waits for the current pass (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
  }

  private async pass(reason: string): Promise<ReconcileReport> {
    const t0 = performance.now();
    try {
      return await this.passInner(reason);
    } finally {
      this.totals.passes++;
      this.totals.ms += performance.now() - t0;
    }
  }

  private async passInner(reason: string): Promise<ReconcileReport> {
    const r: ReconcileReport = {
      reason,
      targetsCreated: 0,
      targetsRepaired: 0,
      targetsRemoved: 0,
      orphanTargetsRemoved: 0,
      accountsRemoved: 0,
      writebacksDiscarded: 0,
      appliesRecovered: 0,
      orphanFilesRemoved: 0,
      exportsRecreated: 0,
      exportsRemoved: 0,
      sparesMade: 0,
      sparesRemoved: 0,
      sessionsEnded: 0,
      skipped: [],
      errors: [],
    };
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        r.errors.push(`${what}: ${(err as Error).message}`);
        this.d.log.warn({ err, step: what }, 'reconcile step failed');
      }
    };
    await step('portal', () => this.d.iscsi.ensurePortals());
    await step('sessions', () => this.sessions(r));
    // before targets: a target's repair serves its disk again silently, without re-adding its LUN
    await step('overlays', () => this.overlays(r));
    await step('targets', () => this.targets(r));
    await step('accounts', () => this.accounts(r));
    await step('writebacks', () => this.writebacks(r));
    await step('spares', async () => {
      const s = await this.d.storage.reconcileSpares();
      r.sparesMade = s.made;
      r.sparesRemoved = s.removed;
    });
    this.lastReconcileAt = nowIso();
    this.lastReconcileError = r.errors.length ? r.errors.join('; ') : null;
    this.lastReport = r;
    const changed =
      r.targetsCreated +
      r.targetsRepaired +
      r.targetsRemoved +
      r.orphanTargetsRemoved +
      r.accountsRemoved +
      r.writebacksDiscarded +
      r.appliesRecovered +
      r.exportsRecreated +
      r.exportsRemoved;
    if (changed || r.errors.length || r.sessionsEnded) this.d.log.info({ reconcile: r }, 'reconciled');
    return r;
  }

  /** qcow2 disks: exports after a qemu-storage-daemon restart, orphan exports and mounts. */
  private async overlays(r: ReconcileReport): Promise<void> {
    const { reexported, removed } = await this.d.storage.reconcileOverlays(10_000);
    r.exportsRemoved += removed;
    if (!reexported.length) return;
    r.exportsRecreated += reexported.length;
    const ids = new Set(reexported.map((w) => w.id));
    const targetIds = new Set(reexported.map((w) => w.target_id).filter((t): t is string => !!t));
    for (const id of targetIds) {
      const row = await this.d.targets.findById(id);
      if (row) await this.d.manager.reattachLuns(row, ids);
    }
  }

  /** Sessions whose start crashed half-way, and live sessions whose target row is gone. */
  private async sessions(r: ReconcileReport): Promise<void> {
    const now = Date.now();
    for (const s of await this.d.sessions.live()) {
      const stuck = s.state === 'starting' && now - Date.parse(s.started_at) > STARTING_TIMEOUT_MS;
      const lost = s.state !== 'starting' && (!s.target_id || !(await this.d.targets.findById(s.target_id)));
      if (!stuck && !lost) continue;
      const ended = await this.d.orchestrator
        .endSession(s.id, 'error', { error: stuck ? 'start did not finish' : 'its target is gone' })
        .catch(() => false);
      if (ended) r.sessionsEnded++;
    }
    // a preparation that crashed half-way: undone (the preparer makes it again)
    for (const p of await this.d.prepared.all()) {
      if (p.state !== 'preparing' || now - Date.parse(p.created_at) <= STARTING_TIMEOUT_MS) continue;
      await this.d.orchestrator.unprepare(p.machine_id).catch(() => false);
    }
  }

  private async targets(r: ReconcileReport): Promise<void> {
    const driver = await this.d.iscsi.driver();
    // live state first, rows second: a target created in between has its row already (rows go first)
    const live = await driver.list();
    this.d.iscsi.invalidate();
    const rows = await this.d.targets.all();
    // prepared boots' targets are wanted too: kept, repaired, made again after a tgtd restart. Read
    // before the sessions: a boot that claims one in between is then in one of the two sets.
    const prepared = await this.d.prepared.sessionIds();
    const sessions = new Map<string, SessionRow>();
    for (const s of await this.d.sessions.live()) sessions.set(s.id, s);
    // several tgt daemons: a row's target is the one on the row's daemon; a target of that name on
    // another daemon is an orphan there (removed below, like one no row describes)
    const rowDaemon = new Map(rows.map((x) => [x.iqn, x.tgt_daemon ?? 0]));
    const onItsDaemon = (t: LiveTarget) => (t.daemon ?? 0) === (rowDaemon.get(t.iqn) ?? t.daemon ?? 0);
    const liveByIqn = new Map(live.filter(onItsDaemon).map((t) => [t.iqn, t]));
    const now = Date.now();

    for (const row of rows) {
      const sessionLive = row.session_id
        ? sessions.has(row.session_id) || prepared.has(row.session_id)
        : true;
      if (row.state === 'deleting' || !sessionLive) {
        try {
          await this.d.manager.unprovision(row.iqn);
          await this.d.targets.delete(row.id);
          r.targetsRemoved++;
        } catch (err) {
          r.errors.push(`remove ${row.iqn}: ${(err as Error).message}`);
        }
        continue;
      }
      // a session start or a manual target is being made right now: its owner finishes it
      if (row.state === 'pending' && now - Date.parse(row.created_at) < GRACE_MS) continue;
      try {
        if (!(await this.d.manager.drifted(row, liveByIqn.get(row.iqn)))) continue;
        const action = await this.d.manager.repair(row, sessionLive);
        if (action === 'created') r.targetsCreated++;
        else if (action === 'repaired') r.targetsRepaired++;
        else if (action === 'skipped-connected') r.skipped.push(row.iqn);
        if (row.state !== 'active') await this.d.targets.setState(row.id, 'active', ['pending', 'error']);
      } catch (err) {
        r.errors.push(`target ${row.iqn}: ${(err as Error).message}`);
        await this.d.targets.setState(row.id, 'error', ['pending', 'active'], {
          error: (err as Error).message,
        });
      }
    }

    // orphans: live targets in GGnet's namespace that no row describes. The namespace is every
    // IQN prefix GGnet has named a target under, so targets left under an IQN domain or date the
    // settings no longer use are cleaned up too; other names are never touched.
    const current = iqnPrefix((await this.d.settings.get()).iscsi);
    const prefixes = new Set([current, ...(await this.d.targets.prefixes())]);
    const ours = (iqn: string) => prefixes.has(iqn.split(':')[0]!);
    const known = new Set(rows.map((x) => x.iqn));
    const liveInitiators = new Set<string>();
    for (const s of sessions.values()) {
      if (s.state !== 'active') continue;
      const m = await this.d.machines.findById(s.machine_id);
      if (m) liveInitiators.add(m.initiator_iqn);
    }
    for (const t of live) {
      if ((known.has(t.iqn) && onItsDaemon(t)) || !ours(t.iqn)) continue;
      if (t.connections.some((c) => liveInitiators.has(c.initiator))) {
        // no row, but the initiator of an active session uses it: never pull a running client's disk
        r.skipped.push(t.iqn);
        this.d.log.error({ iqn: t.iqn }, 'orphan target in use by an active session; left in place');
        continue;
      }
      try {
        if (await this.d.manager.removeOrphan(t.iqn, t.daemon)) r.orphanTargetsRemoved++;
      } catch (err) {
        r.errors.push(`orphan ${t.iqn}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * A CHAP secret lives for one session: ending a session deletes its accounts with its target, and
   * this removes any that were left behind (a crash between the two, a GGnet stopped half-way).
   * Accounts bound to a live target are left to the target repair (which knows which are its own);
   * an account no target binds grants nothing, but it is a secret that outlived its session.
   */
  private async accounts(r: ReconcileReport): Promise<void> {
    const pool = await this.d.iscsi.pool();
    // accounts are per tgtd: each daemon's own accounts against its own targets
    if (pool) {
      const usable = await this.d.iscsi.usableDaemons();
      for (const [i, member] of pool.members.entries()) if (usable[i]) await this.accountsOf(member, r);
      return;
    }
    await this.accountsOf(await this.d.iscsi.driver(), r);
  }

  private async accountsOf(driver: IscsiTargetDriver, r: ReconcileReport): Promise<void> {
    if (!driver.accounts || !driver.deleteAccount) return;
    // accounts first, then bindings, then rows: a session start writes its row before it makes its
    // account and binds it, so an account seen here that is neither bound nor named is not in the making
    const accounts = await driver.accounts();
    const live = await driver.list();
    const bound = new Set(live.flatMap((t) => [...t.chapUsers, ...(t.mutualUser ? [t.mutualUser] : [])]));
    const named = new Set(
      (await this.d.targets.all()).flatMap((t) => [t.chap_user, t.mutual_user]).filter((u) => u !== null),
    );
    for (const user of accounts) {
      if (bound.has(user) || named.has(user)) continue;
      try {
        await driver.deleteAccount(user);
        r.accountsRemoved++;
        this.d.log.info({ user }, 'removed a CHAP account that no session owns');
      } catch (err) {
        r.errors.push(`account ${user}: ${(err as Error).message}`);
      }
    }
  }

  private async writebacks(r: ReconcileReport): Promise<void> {
    const now = Date.now();
    const backends = new Set<StorageBackend>([(await this.d.storage.backendKind()).kind]);
    const rowsAll = await this.d.writebacks.live();
    for (const w of rowsAll) backends.add(w.backend as StorageBackend);
    // files first, rows second: a row is always written before its file
    const files: Array<{ backend: StorageBackend; ref: string; writebackId: string; mtimeMs: number }> = [];
    for (const b of backends) {
      const storage = await this.d.storage.storageFor(b).catch(() => null);
      if (!storage) continue;
      for (const f of await storage.list()) files.push({ backend: b, ...f });
    }
    const rows = await this.d.writebacks.live();
    const sessions = new Map((await this.d.sessions.live()).map((s) => [s.id, s]));
    const targetIds = new Set(
      (await this.d.targets.all()).filter((t) => t.state !== 'deleting').map((t) => t.id),
    );

    for (const w of rows) {
      const age = now - Date.parse(w.created_at);
      const owned =
        (w.session_id && sessions.has(w.session_id)) || (w.target_id && targetIds.has(w.target_id));
      let discard = false;
      if (w.state === 'discarding') discard = !w.target_id || !targetIds.has(w.target_id);
      else if (w.state === 'creating') discard = age > 10 * GRACE_MS && !owned;
      else if (w.state === 'applying') {
        // a server that stopped mid-apply: put the file back and keep it (no-op while this process applies)
        if (await this.d.storage.recoverInterruptedApply(w.id)) r.appliesRecovered++;
        continue;
      } else if (w.state === 'ready' || w.state === 'error') {
        if (!owned && age > GRACE_MS) {
          // its session or target ended without finishing (crash): keep what was to be kept
          if (w.kept) {
            await this.d.storage.keep(w.id);
            continue;
          }
          discard = true;
        }
      }
      if (!discard) continue;
      await this.d.storage.discard(w.id);
      r.writebacksDiscarded++;
    }

    const wanted = new Set(rows.filter((w) => w.state !== 'discarding').map((w) => w.id));
    for (const f of files) {
      if (wanted.has(f.writebackId) || now - f.mtimeMs < GRACE_MS) continue;
      const row = rows.find((w) => w.id === f.writebackId);
      if (row && row.state === 'discarding') continue; // handled above
      try {
        const storage = await this.d.storage.storageFor(f.backend);
        await storage.remove(f.ref);
        r.orphanFilesRemoved++;
        this.d.log.warn({ ref: f.ref }, 'removed a writeback that no row describes');
      } catch (err) {
        r.errors.push(`orphan file ${f.ref}: ${(err as Error).message}`);
      }
    }
  }
}
