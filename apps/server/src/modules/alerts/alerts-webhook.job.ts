import { hostname } from 'node:os';
import type { Alert, WebhookPayload } from '@ggnet/contracts';
import type { SettingsService } from '../settings/settings.service.js';
import { PermanentJobError, type JobContext, type JobHandler } from '../jobs/job-types.js';
import { postWebhook } from './webhook-sender.js';

export const WEBHOOK_JOB = 'alerts.webhook';
/** Attempts of one notification: with the worker's backoff (5 s doubling, 5 min cap) about ten minutes. */
export const WEBHOOK_ATTEMPTS = 8;

/**
 * `alerts.webhook`: POSTs one alert notification to alerts.webhookUrl, signed (webhook-signature.ts).
 * The delivery id is the job's id, the same on every retry, so a receiver can drop duplicates.
 */
export class AlertsWebhookJob implements JobHandler {
  readonly type = WEBHOOK_JOB;

  constructor(private readonly deps: { settings: SettingsService; now?: () => number; server?: string }) {}

  async run(ctx: JobContext): Promise<Record<string, unknown>> {
    const a = (await this.deps.settings.get()).alerts;
    const event = ctx.job.payload.event as WebhookPayload['event'] | undefined;
    if (event !== 'alert.raised' && event !== 'alert.cleared' && event !== 'webhook.test')
      throw new PermanentJobError('payload.event is not a webhook event');
    if (!a.webhookUrl) return { skipped: 'alerts.webhookUrl is not set' };
    if (!a.webhookSecret)
      throw new PermanentJobError('alerts.webhookSecret is not set: calls are never sent unsigned');
    const payload: WebhookPayload = {
      event,
      deliveryId: ctx.job.id,
      sentAt: new Date((this.deps.now ?? Date.now)()).toISOString(),
      server: this.deps.server ?? hostname(),
      alert: (ctx.job.payload.alert as Alert | undefined) ?? null,
    };
    ctx.progress({ stage: 'sending', percent: 0 });
    const r = await postWebhook({
      url: a.webhookUrl,
      secret: a.webhookSecret,
      body: JSON.stringify(payload),
      event,
      deliveryId: ctx.job.id,
      timeoutMs: a.webhookTimeoutSec * 1000,
      signal: ctx.signal,
      now: this.deps.now,
    });
    return { status: r.status, origin: new URL(r.url).origin };
  }
}
