import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WebhookPayload } from '@ggnet/contracts';
import type { JobWorker } from '../../src/modules/jobs/job-worker.js';
import {
  closeIscsiContext,
  iscsiTestContext,
  qemuOpts,
  seedImage,
  tool,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';
import { startWorker, until } from '../helpers/images.js';
import { webhookReceiver } from '../helpers/webhook.js';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';

const MiB = 1024 * 1024;
const SECRET = 'system-test-webhook-secret';

/**
 * Issue 14 point 5 end to end: a client writes through a real initiator (QEMU's iSCSI driver against
 * GGnet's tgtd) into its session's writeback (a reflink clone on XFS) past its machine's soft limit;
 * the alert is raised, reaches a webhook receiver on loopback with a valid signature, and clears (and
 * is notified) when the session ends and its writeback is discarded.
 */
describeEachDialect('space alerts through a real initiator (tgtd + qemu-io)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let portalPort: number;
  let controlPort: number;
  let img: SeededImage;
  let worker: JobWorker | null = null;
  let rx: Awaited<ReturnType<typeof webhookReceiver>>;

  beforeAll(async () => {
    ({ t, fs, portalPort, controlPort } = await iscsiTestContext(dialect, {
      storage: { reserveBytes: 0, spareClones: 0 },
      alerts: { arrayUsedPercent: 100, reserveWarnBytes: 0 },
    }));
    img = await seedImage(t.container, 'win11-alerts', { sizeMiB: 64, dataMiB: 8 });
    rx = await webhookReceiver(SECRET);
    await t.container.settings.update({ alerts: { webhookUrl: rx.url, webhookSecret: SECRET } }, null);
    worker = startWorker(t);
  });

  afterAll(async () => {
    await worker?.stop();
    await rx?.close();
    await closeIscsiContext(t, controlPort, () => fs?.cleanup());
  });

  it('a writeback written past its limit raises the alert, the receiver verifies the signature, discard clears it', async () => {
    const m = await t.container.machines.create({
      name: 'pc-alert',
      mac: '52:54:00:14:05:01',
      bootImageId: img.imageId,
    });
    await t.container.alerts.setLimit(m.id, 16 * MiB, null);
    const info = await t.container.orchestrator.startSession({
      machineId: m.id,
      mode: 'normal',
      clientIp: '127.0.0.1',
    });
    const s = await t.container.sessions.get(info.sessionId);
    expect((await t.container.alerts.check()).raised).toEqual([]);

    const opts = qemuOpts(portalPort, info.targetIqn, 1, {
      initiator: info.initiatorIqn,
      user: info.chap.username,
      password: info.chap.password,
    });
    // 24 MiB of new data over iSCSI: the clone now owns that much (its own blocks, not the version's)
    const w = await tool('qemu-io', ['--image-opts', opts, '-c', 'write -P 0x5a 16M 24M'], 120_000);
    expect(w.exitCode, w.stderr).toBe(0);
    const wb = await t.container.storage.get(s.writebackId!);
    expect(wb.usedBytes).toBeGreaterThanOrEqual(24 * MiB);

    const r = await t.container.alerts.check();
    expect(r.raised).toHaveLength(1);
    expect(r.raised[0]).toMatchObject({ kind: 'writeback.limit', subjectId: wb.id, subjectName: 'pc-alert' });
    await until(async () => (rx.got.length >= 1 ? true : undefined), 30_000, 'the webhook call');
    expect(rx.got[0]!.valid).toBe(true);
    expect(rx.got[0]!.headers['x-ggnet-event']).toBe('alert.raised');
    const body = JSON.parse(rx.got[0]!.body) as WebhookPayload;
    expect(body.alert).toMatchObject({ id: r.raised[0]!.id, machineId: m.id, threshold: 16 * MiB });

    // the session ends (not kept): its writeback is discarded, the alert clears (the monitor's own
    // check runs on writeback.discarded in `ggnet serve`; here the test asks)
    await t.container.sessions.stop(info.sessionId);
    await until(async () =>
      (await t.container.storage.get(wb.id)).state === 'discarded' ? true : undefined,
    );
    const after = await t.container.alerts.check();
    expect(after.cleared.map((a) => a.id)).toEqual([r.raised[0]!.id]);
    await until(async () => (rx.got.length >= 2 ? true : undefined), 30_000, 'the clear call');
    expect(rx.got[1]!.valid).toBe(true);
    expect(JSON.parse(rx.got[1]!.body)).toMatchObject({
      event: 'alert.cleared',
      alert: { state: 'cleared' },
    });
  });
});
