import {
  type Schedule,
  type ScheduleCreateData,
  type ScheduleDay,
  type ScheduleList,
  type ScheduleRun,
  type ScheduleTarget,
  type ScheduleUpdate,
} from '@ggnet/contracts';
import type { Logger } from 'pino';
import { isUniqueViolation } from '../../db/database.js';
import { badRequest, conflict, notFound } from '../../errors/app-error.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import { parseJson } from '../../lib/json.js';
import type { AuditRepository } from '../audit/audit.repository.js';
import type { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { PowerRepository, ScheduleRow } from './power.repository.js';
import { nextSlot, previousSlot } from './schedule-time.js';
import type { WakeService } from './wake.service.js';

export interface PowerSchedulesDeps {
  repo: PowerRepository;
  wake: WakeService;
  settings: SettingsService;
  audit: AuditRepository;
  recorder: BootEventRecorder;
  bus: EventBus;
  log: Logger;
  now?: () => number;
}

const nameTaken = () =>
  conflict('schedule_name_taken', 'a schedule with this name already exists', 'choose another name');

/**
 * Power schedules: CRUD, and `tick()`, which the scheduler loop calls. A slot (day + time in the
 * site's time zone, settings power.timeZone) fires once: the tick that claims it in the database
 * (PowerRepository.claimSlot) runs it. A slot missed while GGnet was down fires late if GGnet is back
 * within power.lateGraceMin minutes; past that it is skipped, written to the audit log
 * (power.schedule.missed) and shown as the schedule's last run. Only the newest slot is considered:
 * older missed ones are passed over with it.
 */
export class PowerSchedules {
  private readonly now: () => number;

  constructor(private readonly deps: PowerSchedulesDeps) {
    this.now = deps.now ?? Date.now;
  }

  private async toSchedule(r: ScheduleRow, zone: string): Promise<Schedule> {
    const days = parseJson<ScheduleDay[]>(r.days, []);
    const times = parseJson<string[]>(r.times, []);
    const next = r.enabled
      ? nextSlot({ days, times, zone }, Math.max(this.now(), Date.parse(r.last_slot_at)))
      : null;
    return {
      id: r.id,
      name: r.name,
      enabled: !!r.enabled,
      action: r.action as Schedule['action'],
      days,
      times,
      target: parseJson<ScheduleTarget>(r.target, { all: true }),
      nextAt: next === null ? null : new Date(next).toISOString(),
      timeZone: zone,
      lastRun: parseJson<ScheduleRun | null>(r.last_run, null),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  private async zone(): Promise<string> {
    return (await this.deps.settings.get()).power.timeZone;
  }

  async list(): Promise<ScheduleList> {
    const zone = await this.zone();
    const rows = await this.deps.repo.listSchedules();
    return { items: await Promise.all(rows.map((r) => this.toSchedule(r, zone))), timeZone: zone };
  }

  async get(id: string): Promise<Schedule> {
    const r = await this.deps.repo.findSchedule(id);
    if (!r) throw notFound('schedule', id);
    return this.toSchedule(r, await this.zone());
  }

  /** A group target names a group that exists (a group deleted later makes the run record an error). */
  private async checkTarget(target: ScheduleTarget | undefined): Promise<void> {
    if (!target || !('groupId' in target)) return;
    if ((await this.deps.repo.machinesInGroup(target.groupId)) === null)
      throw badRequest(
        'group_not_found',
        `group ${JSON.stringify(target.groupId)} does not exist`,
        'pick a group from GET /api/v1/groups',
        [{ path: 'body.target.groupId', message: 'unknown group' }],
      );
  }

  async create(input: ScheduleCreateData, by: string | null): Promise<Schedule> {
    await this.checkTarget(input.target);
    const at = new Date(this.now()).toISOString();
    const id = newId();
    try {
      await this.deps.repo.insertSchedule({
        id,
        name: input.name,
        enabled: input.enabled ? 1 : 0,
        action: input.action,
        days: JSON.stringify(input.days),
        times: JSON.stringify([...input.times].sort()),
        target: JSON.stringify(input.target),
        // slots before the schedule existed never fire
        last_slot_at: at,
        last_run: null,
        created_by: by,
        created_at: at,
        updated_at: at,
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken();
      throw err;
    }
    return this.publish(id);
  }

  async update(id: string, p: ScheduleUpdate): Promise<Schedule> {
    const r = await this.deps.repo.findSchedule(id);
    if (!r) throw notFound('schedule', id);
    const at = new Date(this.now()).toISOString();
    await this.checkTarget(p.target);
    try {
      await this.deps.repo.updateSchedule(id, {
        ...(p.name !== undefined ? { name: p.name } : {}),
        ...(p.enabled !== undefined ? { enabled: p.enabled ? 1 : 0 } : {}),
        ...(p.action !== undefined ? { action: p.action } : {}),
        ...(p.days !== undefined ? { days: JSON.stringify(p.days) } : {}),
        ...(p.times !== undefined ? { times: JSON.stringify([...p.times].sort()) } : {}),
        ...(p.target !== undefined ? { target: JSON.stringify(p.target) } : {}),
        // a changed or re-enabled schedule starts from now: no slot from before the change fires late
        last_slot_at: r.last_slot_at > at ? r.last_slot_at : at,
        updated_at: at,
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken();
      throw err;
    }
    return this.publish(id);
  }

  async delete(id: string): Promise<void> {
    if (!(await this.deps.repo.deleteSchedule(id))) throw notFound('schedule', id);
    this.deps.bus.publish('schedule.deleted', id, null);
  }

  private async publish(id: string): Promise<Schedule> {
    const s = await this.get(id);
    this.deps.bus.publish('schedule.updated', id, s);
    return s;
  }

  /** When the loop should look again: the earliest next slot of an enabled schedule (or null). */
  async nextDue(): Promise<number | null> {
    const { items } = await this.list();
    const due = items.map((s) => (s.nextAt ? Date.parse(s.nextAt) : Infinity));
    const min = Math.min(...due);
    return Number.isFinite(min) ? min : null;
  }

  /** Handles every enabled schedule's newest slot that is due and not handled yet. */
  async tick(now = this.now()): Promise<ScheduleRun[]> {
    const s = await this.deps.settings.get();
    const zone = s.power.timeZone;
    const graceMs = s.power.lateGraceMin * 60_000;
    const runs: ScheduleRun[] = [];
    for (const r of await this.deps.repo.listSchedules()) {
      if (!r.enabled) continue;
      const spec = {
        days: parseJson<ScheduleDay[]>(r.days, []),
        times: parseJson<string[]>(r.times, []),
        zone,
      };
      const slot = previousSlot(spec, now);
      if (slot === null) continue;
      const slotIso = new Date(slot).toISOString();
      if (slotIso <= r.last_slot_at) continue;
      if (!(await this.deps.repo.claimSlot(r.id, slotIso))) continue;
      try {
        runs.push(await this.run(r, slot, now, graceMs));
      } catch (err) {
        this.deps.log.error({ err, schedule: r.id }, 'power schedule failed');
      }
    }
    return runs;
  }

  private async run(r: ScheduleRow, slot: number, now: number, graceMs: number): Promise<ScheduleRun> {
    const late = now - slot;
    const target = parseJson<ScheduleTarget>(r.target, { all: true });
    const run: ScheduleRun = {
      slot: new Date(slot).toISOString(),
      at: new Date(now).toISOString(),
      outcome: 'fired',
      lateSec: Math.max(0, Math.floor(late / 1000)),
      machines: 0,
      noAgent: 0,
      skipped: 0,
      error: null,
    };
    if (late > graceMs) {
      run.outcome = 'missed';
      this.deps.log.warn(
        { schedule: r.id, name: r.name, slot: run.slot, lateSec: run.lateSec },
        'power schedule slot missed while GGnet was down: skipped',
      );
    } else if (r.action === 'wake') {
      try {
        const by = { by: `schedule:${r.name}`, scheduleId: r.id };
        const res =
          'all' in target
            ? await this.deps.wake.wake({ all: true }, by)
            : 'groupId' in target
              ? await this.deps.wake.wakeGroup(target.groupId, by)
              : await this.deps.wake.wakeMachines(target.machineIds, by);
        run.machines = res.queued;
        run.skipped = res.skipped.length;
      } catch (err) {
        run.error = err instanceof Error ? err.message : String(err);
        this.deps.log.error({ err, schedule: r.id }, 'scheduled wake failed');
      }
    } else {
      // shutdown needs the client agent (issue 14 point 4), which does not exist yet: every machine is "no agent"
      const rows =
        'all' in target
          ? (await this.deps.repo.allMachines()).filter((m) => m.enabled && !m.pending)
          : 'groupId' in target
            ? ((await this.deps.repo.machinesInGroup(target.groupId)) ?? []).filter(
                (m) => m.enabled && !m.pending,
              )
            : await this.deps.repo.machinesByIds(target.machineIds);
      run.machines = rows.length;
      run.noAgent = rows.length;
      await this.deps.recorder.recordMany(
        rows.map((m) => ({
          at: run.at,
          mac: m.mac,
          machineId: m.id,
          sessionId: null,
          kind: 'shutdown_not_sent' as const,
          detail: { reason: 'no_agent', by: `schedule:${r.name}`, scheduleId: r.id },
        })),
      );
    }
    await this.deps.repo.setLastRun(r.id, JSON.stringify(run));
    await this.deps.audit.insert({
      at: run.at,
      user_id: null,
      username: null,
      action: run.outcome === 'missed' ? 'power.schedule.missed' : `power.schedule.${r.action}`,
      method: 'SCHEDULE',
      path: `/api/v1/power/schedules/${r.id}`,
      target_type: 'schedule',
      target_id: r.id,
      status_code: run.error ? 500 : 200,
      ip: null,
    });
    await this.publish(r.id).catch(() => undefined);
    return run;
  }
}
