import type { Logger } from 'pino';
import type {
  Alert,
  AlertCheckResult,
  AlertListQuery,
  CleanupList,
  CleanupResult,
  FieldError,
  Job,
  Page,
  Settings,
  WebhookPayload,
  WritebackLimit,
} from '@ggnet/contracts';
import { badRequest, conflict, notFound } from '../../errors/app-error.js';
import { isUniqueViolation, nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import type { AuditRepository } from '../audit/audit.repository.js';
import type { JobsService } from '../jobs/jobs.service.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { StorageService } from '../writebacks/storage.service.js';
import { escalates, isOpen, measures, type Measure, type SpaceSample } from './alert-rules.js';
import { toAlert, type AlertRow, type AlertsRepository } from './alerts.repository.js';
import { WEBHOOK_ATTEMPTS, WEBHOOK_JOB } from './alerts-webhook.job.js';

const DAY_MS = 86_400_000;

/**
 * Space alerts: samples the storage (array free/total, every writeback's bytes, every image's bytes),
 * compares each measure with its threshold (alert-rules.ts), and keeps the raised/cleared state in the
 * database, so that a restart neither forgets an open alert nor sends it again. A raise, a clear and an
 * escalation (warning -> critical) are published on the event bus and queued as webhook calls.
 * Also: per-machine writeback limits, and the cleanup of kept writebacks left unused for long.
 */
export class AlertsService {
  private chain: Promise<unknown> = Promise.resolve();
  /** The last sample (Prometheus gauges read it; a scrape never walks the disks). */
  last: { at: string; sample: SpaceSample } | null = null;

  constructor(
    private readonly deps: {
      repo: AlertsRepository;
      storage: StorageService;
      settings: SettingsService;
      jobs: JobsService;
      audit: AuditRepository;
      bus: EventBus;
      log: Logger;
    },
  ) {}

  /** Settings check: a webhook is never called unsigned. */
  static validateSettings(s: Settings): FieldError[] {
    if (s.alerts.webhookUrl && !s.alerts.webhookSecret)
      return [
        {
          path: 'alerts.webhookSecret',
          message: 'a webhook needs a secret (16-256 characters) to sign its calls',
        },
      ];
    return [];
  }

  async sample(): Promise<SpaceSample> {
    // measured now first: the summary's per-image writeback bytes then read the same fresh figures
    const writebacks = await this.deps.storage.liveWithUsage(true);
    const summary = await this.deps.storage.summary();
    return {
      root: summary.root,
      totalBytes: summary.totalBytes,
      freeBytes: summary.freeBytes,
      reserveBytes: summary.reserveBytes,
      writebacks: writebacks
        .filter((w) => w.state !== 'discarding')
        .map((w) => ({
          id: w.id,
          machineId: w.machineId,
          machineName: w.machineName,
          imageId: w.imageId,
          usedBytes: w.usedBytes,
        })),
      images: summary.images.map((i) => ({
        imageId: i.imageId,
        name: i.name,
        versionBytes: i.versionBytes,
        writebackBytes: i.writebackBytes,
      })),
    };
  }

  /** One check (serialised: the background loop, POST /alerts/check and events never overlap). */
  check(): Promise<AlertCheckResult> {
    const run = this.chain.then(() => this.checkNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async checkNow(): Promise<AlertCheckResult> {
    const s = await this.deps.settings.get();
    const sample = await this.sample();
    const at = nowIso();
    this.last = { at, sample };
    const limits = new Map((await this.deps.repo.limits()).map((l) => [l.machineId, l.limitBytes]));
    const open = new Map((await this.deps.repo.open()).map((r) => [r.key, r]));
    const raised: Alert[] = [];
    const cleared: Alert[] = [];
    for (const m of measures(sample, s, limits)) {
      const row = open.get(m.key);
      open.delete(m.key);
      const nowOpen = isOpen(!!row, m.value, m.threshold, m.direction, s.alerts.hysteresisPercent);
      if (!row && nowOpen) {
        const a = await this.raise(m, at);
        if (a) raised.push(a);
      } else if (row && nowOpen) {
        await this.refresh(row, m, at);
      } else if (row && !nowOpen) {
        const a = await this.clear(row, at, m);
        if (a) cleared.push(a);
      }
    }
    // measures that are gone (writeback discarded, image deleted, threshold turned off) clear their alert
    for (const row of open.values()) {
      const a = await this.clear(row, at);
      if (a) cleared.push(a);
    }
    const openCount = (await this.deps.repo.open()).length;
    return { at, raised, cleared, open: openCount };
  }

  private async raise(m: Measure, at: string): Promise<Alert | null> {
    const row: AlertRow = {
      id: newId(),
      kind: m.kind,
      severity: m.severity,
      state: 'raised',
      key: m.key,
      active_key: m.key,
      subject_type: m.subjectType,
      subject_id: m.subjectId,
      subject_name: m.subjectName,
      machine_id: m.machineId,
      value: m.value,
      threshold: m.threshold,
      message: m.message,
      raised_at: at,
      updated_at: at,
      cleared_at: null,
      acknowledged_at: null,
      acknowledged_by: null,
    };
    try {
      await this.deps.repo.insert(row);
    } catch (err) {
      // another process raised the same alert a moment ago
      if (isUniqueViolation(err)) return null;
      throw err;
    }
    const a = toAlert(row);
    this.deps.log.warn({ alert: a.kind, subject: a.subjectName, value: a.value }, a.message);
    await this.notify('alert.raised', a);
    return a;
  }

  private async refresh(row: AlertRow, m: Measure, at: string): Promise<void> {
    const worse = escalates(row.severity as Alert['severity'], m.severity);
    const patch = {
      value: m.value,
      threshold: m.threshold,
      message: m.message,
      subject_name: m.subjectName,
      severity: m.severity,
      updated_at: at,
      // an escalated alert asks to be acknowledged again
      ...(worse ? { acknowledged_at: null, acknowledged_by: null } : {}),
    };
    if (!(await this.deps.repo.updateOpen(row.id, patch))) return;
    const a = toAlert({ ...row, ...patch });
    if (worse) await this.notify('alert.raised', a);
    else if (row.severity !== m.severity || row.value !== m.value)
      this.deps.bus.publish('alert.updated', a.id, a);
  }

  private async clear(row: AlertRow, at: string, m?: Measure): Promise<Alert | null> {
    const patch = {
      state: 'cleared',
      active_key: null,
      cleared_at: at,
      updated_at: at,
      ...(m ? { value: m.value } : {}),
    };
    if (!(await this.deps.repo.updateOpen(row.id, patch))) return null;
    const a = toAlert({ ...row, ...patch });
    this.deps.log.info({ alert: a.kind, subject: a.subjectName }, 'alert cleared');
    await this.notify('alert.cleared', a);
    return a;
  }

  private async notify(event: 'alert.raised' | 'alert.cleared', a: Alert): Promise<void> {
    this.deps.bus.publish(event, a.id, a);
    if ((await this.deps.settings.get()).alerts.webhookUrl)
      await this.deps.jobs.enqueue(WEBHOOK_JOB, { event, alert: a }, { maxAttempts: WEBHOOK_ATTEMPTS });
  }

  /** POST /alerts/webhook/test: one `webhook.test` call through the queue (the same path as alerts). */
  async testWebhook(by: string | null): Promise<Job> {
    const a = (await this.deps.settings.get()).alerts;
    if (!a.webhookUrl)
      throw conflict(
        'webhook_not_set',
        'alerts.webhookUrl is not set',
        'set it (and alerts.webhookSecret) in the settings',
      );
    const event: WebhookPayload['event'] = 'webhook.test';
    const { job } = await this.deps.jobs.enqueue(WEBHOOK_JOB, { event }, { maxAttempts: 1, createdBy: by });
    return job;
  }

  async list(q: AlertListQuery): Promise<Page<Alert>> {
    const p = await this.deps.repo.list(q);
    return { items: p.items.map(toAlert), total: p.total };
  }

  async get(id: string): Promise<Alert> {
    const row = await this.deps.repo.findById(id);
    if (!row) throw notFound('alert', id);
    return toAlert(row);
  }

  /** An operator has seen it: the console stops asking for attention (it stays open until it clears). */
  async acknowledge(id: string, by: string | null): Promise<Alert> {
    const row = await this.deps.repo.findById(id);
    if (!row) throw notFound('alert', id);
    if (!(await this.deps.repo.acknowledge(id, by, nowIso())))
      throw conflict(
        'alert_acknowledged',
        `the alert was already acknowledged by ${row.acknowledged_by ?? 'someone'}`,
      );
    const a = await this.get(id);
    this.deps.bus.publish('alert.acknowledged', id, a);
    return a;
  }

  // --- per-machine writeback limits ---

  limits(): Promise<WritebackLimit[]> {
    return this.deps.repo.limits();
  }

  async setLimit(machineId: string, limitBytes: number, by: string | null): Promise<WritebackLimit> {
    if (!(await this.deps.repo.machineExists(machineId))) throw notFound('machine', machineId);
    await this.deps.repo.putLimit(machineId, limitBytes, by, nowIso());
    const l = (await this.deps.repo.limits()).find((x) => x.machineId === machineId)!;
    this.deps.bus.publish('alert.limit_updated', machineId, l);
    return l;
  }

  async deleteLimit(machineId: string): Promise<void> {
    if (!(await this.deps.repo.deleteLimit(machineId)))
      throw notFound('writeback limit of machine', machineId);
    this.deps.bus.publish('alert.limit_updated', machineId, null);
  }

  // --- cleanup of kept writebacks left unused ---

  async cleanupList(now = Date.now()): Promise<CleanupList> {
    const a = (await this.deps.settings.get()).alerts;
    const before = new Date(now - a.cleanupAfterDays * DAY_MS).toISOString();
    const rows = await this.deps.repo.keptUnusedSince(before);
    const used = new Map((await this.deps.storage.liveWithUsage()).map((w) => [w.id, w.usedBytes]));
    const items = rows.map((r) => ({
      writebackId: r.id,
      machineId: r.machine_id,
      machineName: r.machine_name,
      imageId: r.image_id,
      imageName: r.image_name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      ageDays: Math.floor((now - Date.parse(r.last_used_at)) / DAY_MS),
      usedBytes: used.get(r.id) ?? null,
    }));
    return {
      olderThanDays: a.cleanupAfterDays,
      scheduleEnabled: a.cleanupEnabled,
      items,
      totalBytes: items.reduce((n, i) => n + (i.usedBytes ?? 0), 0),
    };
  }

  /**
   * Discards listed candidates (all of them, or those of `ids`; an id that is not a candidate is
   * refused), each audited as `writeback.cleanup`. A writeback booted again meanwhile is skipped by
   * the discard's own state check.
   */
  async cleanup(
    ids: string[] | undefined,
    by: { username: string | null; userId: string | null; via: 'api' | 'schedule' },
    now = Date.now(),
  ): Promise<CleanupResult> {
    const list = await this.cleanupList(now);
    const candidates = new Set(list.items.map((i) => i.writebackId));
    if (ids) {
      const not = ids.filter((id) => !candidates.has(id));
      if (not.length)
        throw badRequest(
          'not_cleanup_candidate',
          `not kept writebacks unused for ${list.olderThanDays} days: ${not.join(', ')}`,
          'GET /api/v1/storage/cleanup lists the candidates',
        );
    }
    const result: CleanupResult = { discarded: [], failed: [] };
    for (const id of ids ?? [...candidates]) {
      try {
        await this.deps.storage.discardKept(id);
        result.discarded.push(id);
        await this.deps.audit.insert({
          at: nowIso(),
          user_id: by.userId,
          username: by.username,
          action: 'writeback.cleanup',
          method: by.via === 'api' ? 'POST' : 'JOB',
          path: by.via === 'api' ? '/api/v1/storage/cleanup' : 'alerts.cleanup',
          target_type: 'writeback',
          target_id: id,
          status_code: 204,
          ip: null,
        });
      } catch (err) {
        result.failed.push({ writebackId: id, error: (err as Error).message });
      }
    }
    if (result.discarded.length) this.deps.bus.publish('storage.cleaned', 'cleanup', result);
    return result;
  }
}
