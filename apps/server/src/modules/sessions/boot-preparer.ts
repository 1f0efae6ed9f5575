import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { EventBus } from '../../events/event-bus.js';
import type { MachinesRepository } from '../machines/machines.repository.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { PrepareOutcome, SessionOrchestrator } from './session-orchestrator.js';

/** Events after which one machine's next boot is (re)prepared: the id is the machine's. */
const MACHINE_EVENTS = new Set(['machine.created', 'machine.updated']);
/**
 * Events after which every machine is looked at again: versions, images, the settings (defaults,
 * iSCSI), a group's settings and its ring releases (what its machines inherit). A machine whose
 * preparation still matches costs database reads only.
 */
const SWEEP_EVENTS = new Set([
  'version.published',
  'version.deleted',
  'image.deleted',
  'settings.updated',
  'group.updated',
  'group.deleted',
  'group.released',
  'group.promoted',
  'group.rolled_back',
]);

/** The fields of a machine (its API shape) that its prepared boot depends on. */
function pickKey(data: unknown): unknown[] {
  const m = (data ?? {}) as Record<string, unknown>;
  return [
    m.name,
    m.ip,
    m.initiatorIqn,
    m.bootImageId,
    m.extraImageIds,
    m.bootMode,
    m.keepWriteback,
    m.enabled,
    m.pending,
    m.groupId,
    m.installMediaId,
    m.effective,
  ];
}

/**
 * Prepares the machines' next boots in the background (SessionOrchestrator.prepare): a machine whose
 * session ended, a new or changed machine, and every machine after a version is published (or
 * retired, or the settings change). One machine at a time, a pause of boot.preparePaceMs after each
 * one that cost work, and none while a boot builds its session the slow way: clients that boot or
 * run feel nothing of it. A start-up sweep catches up on what happened while GGnet was stopped.
 */
export class BootPreparer {
  private readonly queue = new Set<string>();
  private draining: Promise<void> | null = null;
  /** Sweeps listing the machines (idle() waits for them too). */
  private readonly sweeps = new Set<Promise<void>>();
  private unsubscribe: (() => void) | null = null;
  private stopped = true;
  /** What a preparation depends on, per machine, as last seen in an event. */
  private readonly lastKey = new Map<string, string>();
  /** What the last preparations did (tests, diagnostics). */
  readonly outcomes = new Map<PrepareOutcome | 'failed', number>();

  constructor(
    private readonly d: {
      orchestrator: SessionOrchestrator;
      machines: MachinesRepository;
      settings: SettingsService;
      bus: EventBus;
      log: Logger;
    },
  ) {}

  start(): void {
    this.stop();
    this.stopped = false;
    this.unsubscribe = this.d.bus.subscribe((e) => {
      if (e.type === 'machine.deleted') this.lastKey.delete(e.id);
      else if (e.type === 'session.ended') {
        const machineId = (e.data as { machineId?: string } | null)?.machineId;
        if (machineId) this.enqueue(machineId);
      } else if (MACHINE_EVENTS.has(e.type) && e.id) {
        // a boot request's "seen at" update changes nothing a preparation depends on
        const key = JSON.stringify(pickKey(e.data));
        if (this.lastKey.get(e.id) === key) return;
        this.lastKey.set(e.id, key);
        this.enqueue(e.id);
      } else if (SWEEP_EVENTS.has(e.type)) void this.sweep();
    });
    void this.sweep();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.queue.clear();
  }

  /** Every machine, in name order (the machines' own checks decide what is done). */
  sweep(): Promise<void> {
    const p = (async () => {
      try {
        for (const id of await this.d.machines.allIds()) this.enqueue(id);
      } catch (err) {
        this.d.log.warn({ err }, 'listing machines to prepare failed');
      }
    })();
    this.sweeps.add(p);
    void p.finally(() => this.sweeps.delete(p));
    return p;
  }

  enqueue(machineId: string): void {
    if (this.stopped) return;
    this.queue.add(machineId);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
      if (this.queue.size && !this.stopped) this.enqueue([...this.queue][0]!);
    });
  }

  /** Resolves when the queue is empty (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.draining || this.sweeps.size) {
      await Promise.all(this.sweeps);
      if (this.draining) await this.draining;
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.size && !this.stopped) {
      const id = this.queue.values().next().value!;
      this.queue.delete(id);
      // boots that build their session now go first: tgtd answers one request at a time
      while (this.d.orchestrator.coldStartsInFlight > 0 && !this.stopped) await sleep(50);
      let outcome: PrepareOutcome | 'failed';
      try {
        outcome = await this.d.orchestrator.prepare(id);
      } catch (err) {
        outcome = 'failed';
        this.d.log.warn({ err, machineId: id }, 'preparing the next boot failed; it is built when asked');
      }
      this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
      if (outcome === 'prepared' || outcome === 'undone') {
        const pace = (await this.d.settings.get()).boot.preparePaceMs;
        if (pace > 0) await sleep(pace);
      }
    }
  }
}
