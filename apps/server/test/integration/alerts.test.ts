import { open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SECRET_MASK, type AlertCheckResult, type LiveEvent, type WebhookPayload } from '@ggnet/contracts';
import { createContainer } from '../../src/container.js';
import { AlertsCleanupJob } from '../../src/modules/alerts/alerts-cleanup.job.js';
import { verifyWebhookSignature } from '../../src/modules/alerts/webhook-signature.js';
import { webhookReceiver, type ReceivedCall } from '../helpers/webhook.js';
import type { JobWorker } from '../../src/modules/jobs/job-worker.js';
import { seedImage } from '../helpers/iscsi.js';
import { startWorker, until, waitJob } from '../helpers/images.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

const MiB = 1024 * 1024;
const SECRET = 'receiver-shared-secret-42';

describeEachDialect('space alerts', (dialect) => {
  let t: TestContext;
  let h: Record<string, string>;
  let worker: JobWorker | null = null;
  const closers: Array<() => Promise<void>> = [];
  const events: LiveEvent[] = [];

  beforeEach(async () => {
    t = await createTestContext(dialect);
    h = await t.auth();
    events.length = 0;
    t.container.bus.subscribe((e) => events.push(e));
    // only the measures a test turns on: no array alert on whatever disk the test runs on
    await t.container.settings.update(
      {
        storage: { backend: 'copy', reserveBytes: 0, spareClones: 0 },
        alerts: { arrayUsedPercent: 100, reserveWarnBytes: 0, hysteresisPercent: 10 },
      },
      null,
    );
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    for (const c of closers.splice(0)) await c();
    await t.close();
  });

  /** A machine with a ready writeback (copy backend) of a 32 MiB image without data. */
  async function machineWithWriteback(name = 'pc-1', mac = '52:54:00:00:00:01', kept = false) {
    const img = await seedImage(t.container, `img-${name}`, { sizeMiB: 32, dataMiB: 0 });
    const m = await t.container.machines.create({
      name,
      mac,
      ip: null,
      bootImageId: img.imageId,
      keepWriteback: kept,
    });
    const wb = await t.container.storage.create({
      machineId: m.id,
      imageId: img.imageId,
      versionId: img.versionId,
      sessionId: null,
      targetId: null,
      lun: 1,
    });
    return { img, m, wb, file: t.container.imageFiles.inside(wb.path) };
  }

  /** What a client's writes do to its writeback: `mib` MiB of data at `atMiB`. */
  async function write(file: string, mib: number, atMiB = 0) {
    const fh = await open(file, 'r+');
    try {
      await fh.write(randomBytes(mib * MiB), 0, mib * MiB, atMiB * MiB);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  const check = async () => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/v1/alerts/check',
      headers: await t.auth('operator'),
    });
    expect(r.statusCode).toBe(200);
    return r.json<AlertCheckResult>();
  };

  it('a writeback over its machine limit raises one alert, kept across samples and restarts, acknowledged, cleared with hysteresis', async () => {
    const { m, wb, file } = await machineWithWriteback();
    const put = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/storage/writeback-limits/${m.id}`,
      headers: await t.auth('operator'),
      payload: { limitBytes: 8 * MiB },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ machineId: m.id, machineName: 'pc-1', limitBytes: 8 * MiB });
    // viewer may read the limits, not set them; an unknown machine is a 404
    const viewer = await t.auth('viewer');
    expect(
      (
        await t.app.inject({ method: 'GET', url: '/api/v1/storage/writeback-limits', headers: viewer })
      ).json(),
    ).toHaveLength(1);
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: `/api/v1/storage/writeback-limits/${m.id}`,
          headers: viewer,
          payload: { limitBytes: 8 * MiB },
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: '/api/v1/storage/writeback-limits/nope',
          headers: h,
          payload: { limitBytes: 8 * MiB },
        })
      ).json().code,
    ).toBe('not_found');

    expect((await check()).raised).toEqual([]);
    await write(file, 12);
    const first = await check();
    expect(first.raised).toHaveLength(1);
    const alert = first.raised[0]!;
    expect(alert).toMatchObject({
      kind: 'writeback.limit',
      severity: 'warning',
      state: 'raised',
      subjectType: 'writeback',
      subjectId: wb.id,
      subjectName: 'pc-1',
      machineId: m.id,
      threshold: 8 * MiB,
    });
    expect(alert.value).toBeGreaterThanOrEqual(12 * MiB);
    expect(events.filter((e) => e.type === 'alert.raised').map((e) => e.id)).toEqual([alert.id]);

    // the next samples do not raise it again
    await write(file, 2, 12);
    const again = await check();
    expect(again.raised).toEqual([]);
    expect(again.open).toBe(1);
    expect(events.filter((e) => e.type === 'alert.raised')).toHaveLength(1);
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/alerts', headers: viewer });
    expect(list.json().total).toBe(1);
    expect(list.json().items[0].value).toBeGreaterThanOrEqual(14 * MiB);

    // a restart of GGnet (a new container on the same database) neither forgets nor re-raises it
    const c2 = createContainer(t.config, { log: pino({ level: 'silent' }) });
    try {
      const r = await c2.alerts.check();
      expect(r.raised).toEqual([]);
      expect(r.open).toBe(1);
    } finally {
      await c2.close();
    }

    // acknowledge: operator yes (audited), twice no, viewer no
    expect(
      (await t.app.inject({ method: 'POST', url: `/api/v1/alerts/${alert.id}/acknowledge`, headers: viewer }))
        .statusCode,
    ).toBe(403);
    const ack = await t.app.inject({
      method: 'POST',
      url: `/api/v1/alerts/${alert.id}/acknowledge`,
      headers: await t.auth('operator'),
    });
    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toMatchObject({ acknowledgedBy: 'test-operator', state: 'raised' });
    expect(events.some((e) => e.type === 'alert.acknowledged' && e.id === alert.id)).toBe(true);
    const twice = await t.app.inject({
      method: 'POST',
      url: `/api/v1/alerts/${alert.id}/acknowledge`,
      headers: h,
    });
    expect(twice.statusCode).toBe(409);
    expect(twice.json().code).toBe('alert_acknowledged');
    // the audit row is written once the answer has gone (onResponse): wait for it
    await until(
      async () => {
        const audit = await t.app.inject({
          method: 'GET',
          url: '/api/v1/audit?action=alert.acknowledge',
          headers: h,
        });
        const items = audit.json().items as Array<{ username: string; targetId: string; statusCode: number }>;
        return items.some(
          (i) => i.username === 'test-operator' && i.targetId === alert.id && i.statusCode === 200,
        )
          ? true
          : undefined;
      },
      10_000,
      'the acknowledge audit row',
    );

    // hysteresis 10 %: a limit just above the value does not clear it, one 10 % above does
    const used = (await t.container.storage.get(wb.id)).usedBytes!;
    await t.container.alerts.setLimit(m.id, Math.ceil(used / 0.95 / MiB) * MiB, null);
    expect((await check()).cleared).toEqual([]);
    await t.container.alerts.setLimit(m.id, Math.ceil(used / 0.85 / MiB) * MiB, null);
    const cleared = await check();
    expect(cleared.cleared.map((a) => a.id)).toEqual([alert.id]);
    expect(cleared.open).toBe(0);
    expect(events.some((e) => e.type === 'alert.cleared' && e.id === alert.id)).toBe(true);
    const history = await t.app.inject({
      method: 'GET',
      url: '/api/v1/alerts?state=cleared',
      headers: viewer,
    });
    expect(history.json().items[0]).toMatchObject({
      id: alert.id,
      state: 'cleared',
      acknowledgedBy: 'test-operator',
    });
    expect(history.json().items[0].clearedAt).toBeTruthy();
  });

  it('global limit, discard clears, image limit, array threshold and reserve; Prometheus gauges', async () => {
    const { wb, file, img } = await machineWithWriteback();
    await write(file, 6);
    await t.container.settings.update(
      { alerts: { writebackLimitBytes: 4 * MiB, imageLimitBytes: 4 * MiB } },
      null,
    );
    const r = await check();
    expect(r.raised.map((a) => `${a.kind}:${a.subjectId}`).sort()).toEqual([
      `image.limit:${img.imageId}`,
      `writeback.limit:${wb.id}`,
    ]);
    // the array: any filesystem is more than 1 % full; the reserve: ask for more free space than the disk has
    const { totalBytes } = await t.container.storage.summary();
    await t.container.settings.update(
      { alerts: { arrayUsedPercent: 1, reserveWarnBytes: totalBytes } },
      null,
    );
    const arr = await check();
    expect(arr.raised.map((a) => a.kind).sort()).toEqual(['array.reserve', 'array.usage']);
    const reserve = arr.raised.find((a) => a.kind === 'array.reserve')!;
    expect(reserve.severity).toBe('warning');
    expect(reserve.message).toMatch(/before the reserve/);

    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    const text = metrics.body;
    expect(text).toMatch(
      new RegExp(
        `ggnet_writeback_used_bytes\\{writeback="${wb.id}",machine="pc-1",image="${img.imageId}"\\} (\\d+)`,
      ),
    );
    expect(text).toMatch(/ggnet_alerts_open\{kind="writeback.limit",severity="warning"\} 1/);
    expect(text).toMatch(/ggnet_alerts_open\{kind="array.usage",severity="(warning|critical)"\} 1/);
    expect(Number(/ggnet_storage_free_bytes (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);

    // the writeback goes: its alert clears (the image limit stays: the version file is still there? no: 0 data)
    await t.container.storage.discard(wb.id);
    const after = await check();
    expect(after.cleared.map((a) => a.kind).sort()).toEqual(['image.limit', 'writeback.limit']);
    // thresholds turned off clear their alerts too
    await t.container.settings.update({ alerts: { arrayUsedPercent: 100, reserveWarnBytes: 0 } }, null);
    expect((await check()).open).toBe(0);
  });

  it('settings: the webhook secret is write-only, the URL is checked, admins only', async () => {
    const bad = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { alerts: { webhookUrl: 'file:///etc/passwd', webhookSecret: SECRET } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toMatch(/(^|\.)alerts\.webhookUrl$/);
    const creds = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { alerts: { webhookUrl: 'https://user:pw@hooks.example/x', webhookSecret: SECRET } },
    });
    expect(creds.statusCode).toBe(400);
    const noSecret = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { alerts: { webhookUrl: 'https://hooks.example/x' } },
    });
    expect(noSecret.statusCode).toBe(422);
    expect(noSecret.json().errors[0].path).toBe('alerts.webhookSecret');
    const operator = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: await t.auth('operator'),
      payload: { alerts: { webhookUrl: 'https://hooks.example/x', webhookSecret: SECRET } },
    });
    expect(operator.statusCode).toBe(403);

    const ok = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { alerts: { webhookUrl: 'https://hooks.example/x', webhookSecret: SECRET } },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().settings.alerts).toMatchObject({
      webhookUrl: 'https://hooks.example/x',
      webhookSecret: SECRET_MASK,
    });
    const get = await t.app.inject({ method: 'GET', url: '/api/v1/settings', headers: h });
    expect(get.body).not.toContain(SECRET);
    expect(JSON.stringify(events.filter((e) => e.type === 'settings.updated'))).not.toContain(SECRET);
    // a form that sends the whole group back (mask included) keeps the secret
    const back = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { alerts: { ...get.json().settings.alerts, webhookTimeoutSec: 5 } },
    });
    expect(back.statusCode).toBe(200);
    expect((await t.container.settings.get()).alerts.webhookSecret).toBe(SECRET);
  });

  it('webhook: signed JSON to a real receiver, retried after a 500 with the same delivery id', async () => {
    const rx = await webhookReceiver(SECRET, { statuses: [500] });
    closers.push(rx.close);
    await t.container.settings.update(
      { alerts: { webhookUrl: rx.url, webhookSecret: SECRET, writebackLimitBytes: 2 * MiB } },
      null,
    );
    worker = startWorker(t);
    const { file, wb } = await machineWithWriteback();
    await write(file, 4);
    const [alert] = (await check()).raised;
    expect(alert?.subjectId).toBe(wb.id);
    await until(async () => (rx.got.length >= 2 ? true : undefined), 20_000, 'two webhook calls');
    const [a, b] = rx.got as [ReceivedCall, ReceivedCall];
    expect(a.valid && b.valid).toBe(true);
    expect(a.headers['content-type']).toBe('application/json');
    expect(a.headers['x-ggnet-event']).toBe('alert.raised');
    expect(b.headers['x-ggnet-delivery']).toBe(a.headers['x-ggnet-delivery']);
    expect(b.headers['x-ggnet-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    const body = JSON.parse(b.body) as WebhookPayload;
    expect(body).toMatchObject({ event: 'alert.raised', deliveryId: a.headers['x-ggnet-delivery'] });
    expect(body.alert).toMatchObject({ id: alert!.id, kind: 'writeback.limit', subjectName: 'pc-1' });
    const job = await waitJob(t, String(a.headers['x-ggnet-delivery']));
    expect(job).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(JSON.stringify(job)).not.toContain(SECRET);
    expect(JSON.stringify(job.result)).not.toContain('token=abc');

    // a tampered body fails the receiver's check (the signature covers every byte)
    expect(
      verifyWebhookSignature(
        SECRET,
        {
          signature: b.headers['x-ggnet-signature'] as string,
          timestamp: b.headers['x-ggnet-timestamp'] as string,
        },
        b.body.replace('pc-1', 'pc-2'),
        Math.floor(Date.now() / 1000),
      ),
    ).toBe(false);

    // the clear is notified too
    await t.container.storage.discard(wb.id);
    await check();
    await until(async () => (rx.got.length >= 3 ? true : undefined), 20_000, 'the clear call');
    expect(JSON.parse(rx.got[2]!.body)).toMatchObject({
      event: 'alert.cleared',
      alert: { id: alert!.id, state: 'cleared' },
    });
    expect(rx.got[2]!.valid).toBe(true);

    // the test button: admin only, one call
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/alerts/webhook/test',
          headers: await t.auth('operator'),
        })
      ).statusCode,
    ).toBe(403);
    const test = await t.app.inject({ method: 'POST', url: '/api/v1/alerts/webhook/test', headers: h });
    expect(test.statusCode).toBe(202);
    expect((await waitJob(t, test.json().id)).state).toBe('succeeded');
    expect(JSON.parse(rx.got[3]!.body)).toMatchObject({ event: 'webhook.test', alert: null });
  });

  it('webhook: a redirect to another host is never followed', async () => {
    const elsewhere = await webhookReceiver(SECRET);
    const rx = await webhookReceiver(SECRET, { redirectTo: elsewhere.url.replace('127.0.0.1', 'localhost') });
    closers.push(rx.close, elsewhere.close);
    await t.container.settings.update({ alerts: { webhookUrl: rx.url, webhookSecret: SECRET } }, null);
    worker = startWorker(t);
    const test = await t.app.inject({ method: 'POST', url: '/api/v1/alerts/webhook/test', headers: h });
    const job = await waitJob(t, test.json().id);
    expect(job.state).toMatch(/failed|dead/);
    expect(job.error).toMatch(/redirected to another host/);
    expect(rx.got).toHaveLength(1);
    expect(elsewhere.got).toHaveLength(0);
  });

  it('cleanup: kept writebacks unused for N days are listed, and discarded by the schedule only when turned on (audited)', async () => {
    const old = await machineWithWriteback('pc-old', '52:54:00:00:00:0a');
    const recent = await machineWithWriteback('pc-new', '52:54:00:00:00:0b');
    for (const w of [old.wb, recent.wb]) await t.container.storage.keep(w.id);
    const longAgo = new Date(Date.now() - 40 * 86_400_000).toISOString();
    await t.container.repos.writebacks.update(old.wb.id, { created_at: longAgo });

    const viewer = await t.auth('viewer');
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/storage/cleanup', headers: viewer });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ olderThanDays: 30, scheduleEnabled: false });
    expect(list.json().items).toHaveLength(1);
    expect(list.json().items[0]).toMatchObject({
      writebackId: old.wb.id,
      machineName: 'pc-old',
      ageDays: 40,
    });
    // a writeback that is not a candidate is refused by the API
    const refused = await t.app.inject({
      method: 'POST',
      url: '/api/v1/storage/cleanup',
      headers: await t.auth('operator'),
      payload: { writebackIds: [recent.wb.id] },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().code).toBe('not_cleanup_candidate');

    // the schedule: off by default, a no-op
    const job = new AlertsCleanupJob({ alerts: t.container.alerts, settings: t.container.settings });
    worker = startWorker(t, { schedules: [{ type: job.type, everyMs: 200 }] });
    const off = await until(async () => {
      const p = await t.container.jobs.list({
        type: 'alerts.cleanup',
        state: 'succeeded',
        limit: 1,
        offset: 0,
      } as never);
      return p.items[0];
    });
    expect(off.result).toMatchObject({ enabled: false, discarded: 0 });
    expect((await t.container.storage.get(old.wb.id)).state).toBe('kept');

    await t.container.settings.update({ alerts: { cleanupEnabled: true } }, null);
    await until(async () =>
      (await t.container.storage.get(old.wb.id)).state === 'discarded' ? true : undefined,
    );
    expect((await t.container.storage.get(recent.wb.id)).state).toBe('kept');
    const audit = await t.app.inject({
      method: 'GET',
      url: '/api/v1/audit?action=writeback.cleanup',
      headers: h,
    });
    expect(audit.json().items[0]).toMatchObject({ targetId: old.wb.id, method: 'JOB', username: null });
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/storage/cleanup', headers: viewer })).json().items,
    ).toEqual([]);
  });
});
