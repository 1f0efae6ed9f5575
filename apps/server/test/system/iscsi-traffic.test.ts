import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Machine, Session, Traffic, TrafficSnapshot } from '@ggnet/contracts';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  QemuIoSession,
  closeIscsiContext,
  iscsiTestContext,
  qemuOpts,
  seedImage,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';

const MiB = 1024 * 1024;
const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

/**
 * Live traffic per session from the kernel's TCP counters (`ss -tin` on the portal port) of a real
 * tgtd's connections, driven by a real initiator (QEMU's iSCSI driver in qemu-io) on loopback: what the
 * session reports read and written is at least what the initiator read and wrote, and stays so across
 * a logout and a new login.
 */
describeEachDialect('iSCSI traffic per session (tgtd + qemu + ss)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let controlPort: number;
  let portalPort: number;
  let img: SeededImage;
  const clients: QemuIoSession[] = [];

  beforeAll(async () => {
    ({ t, fs, portalPort, controlPort } = await iscsiTestContext(dialect));
    img = await seedImage(t.container, 'traffic-test', { sizeMiB: 64, dataMiB: 8 });
  });

  afterAll(async () => {
    for (const q of clients) await q.close();
    await closeIscsiContext(t, controlPort, () => fs?.cleanup());
  });

  /** Monitor passes until the session's traffic reaches `min` (delayed ACKs land within ~200 ms). */
  const sampleUntil = async (sessionId: string, min: { read: number; written: number }) => {
    let traffic: Traffic | null = null;
    for (let i = 0; i < 40; i++) {
      await t.container.sessionMonitor.tick();
      traffic = (await t.container.sessions.get(sessionId)).traffic;
      if (traffic && traffic.readBytes >= min.read && traffic.writtenBytes >= min.written) break;
      await sleep(100);
    }
    return traffic;
  };

  it('reports at least the bytes the initiator read and wrote, across a reconnect; the API and metrics carry them', async () => {
    const m = await t.container.machines.create({ name: 'pc-traffic', mac: mac(), bootImageId: img.imageId });
    const info = await t.container.orchestrator.startSession({
      machineId: m.id,
      mode: 'normal',
      clientIp: '127.0.0.1',
    });
    expect(await t.container.iscsi.portalPorts()).toEqual([portalPort]);
    const opts = qemuOpts(portalPort, info.targetIqn, 1, {
      initiator: info.initiatorIqn,
      user: info.chap.username,
      password: info.chap.password,
    });

    // first login: write 6 MiB, read 16 MiB
    const a = new QemuIoSession(opts);
    clients.push(a);
    await a.cmd(`write -P 0x5a 0 ${6 * MiB}`, /wrote \d+\/\d+ bytes/);
    await a.cmd(`read 0 ${16 * MiB}`, /read \d+\/\d+ bytes/);
    const first = await sampleUntil(info.sessionId, { read: 16 * MiB, written: 6 * MiB });
    expect(first, 'no traffic sampled for the session').not.toBeNull();
    expect(first!.readBytes).toBeGreaterThanOrEqual(16 * MiB);
    expect(first!.writtenBytes).toBeGreaterThanOrEqual(6 * MiB);
    // iSCSI headers and login are on top, not megabytes more
    expect(first!.readBytes).toBeLessThan(18 * MiB);
    expect(first!.writtenBytes).toBeLessThan(8 * MiB);

    // logout: the totals stay
    await a.close();
    await t.container.sessionMonitor.tick();
    const closed = (await t.container.sessions.get(info.sessionId)).traffic!;
    expect(closed.readBytes).toBeGreaterThanOrEqual(first!.readBytes);
    expect(closed.writtenBytes).toBeGreaterThanOrEqual(first!.writtenBytes);

    // a new login (new TCP connection): its bytes are added to the session's
    const b = new QemuIoSession(opts);
    clients.push(b);
    await b.cmd(`read 0 ${32 * MiB}`, /read \d+\/\d+ bytes/);
    await b.cmd(`write -P 0x33 ${8 * MiB} ${2 * MiB}`, /wrote \d+\/\d+ bytes/);
    const second = await sampleUntil(info.sessionId, {
      read: closed.readBytes + 32 * MiB,
      written: closed.writtenBytes + 2 * MiB,
    });
    expect(second!.readBytes).toBeGreaterThanOrEqual(closed.readBytes + 32 * MiB);
    expect(second!.writtenBytes).toBeGreaterThanOrEqual(closed.writtenBytes + 2 * MiB);

    // over HTTP: the session, the machine and the room's snapshot
    const headers = await t.auth('viewer');
    const s = (await t.app.inject({ url: `/api/v1/sessions/${info.sessionId}`, headers })).json<Session>();
    expect(s.traffic).toEqual(second);
    const mm = (await t.app.inject({ url: `/api/v1/machines/${m.id}`, headers })).json<Machine>();
    expect(mm.traffic).toEqual(second);
    const snap = (await t.app.inject({ url: '/api/v1/traffic', headers })).json<TrafficSnapshot>();
    expect(snap.machines.map((x) => [x.machineName, x.traffic.readBytes])).toEqual([
      ['pc-traffic', second!.readBytes],
    ]);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    const counter = (direction: string) =>
      Number(
        new RegExp(
          `ggnet_session_bytes_total\\{machine="pc-traffic",direction="${direction}"\\} (\\d+)`,
        ).exec(metrics)?.[1],
      );
    expect(counter('read')).toBe(second!.readBytes);
    expect(counter('write')).toBe(second!.writtenBytes);
    await b.close();

    // the session ends: its row keeps the totals (the database's, read back over HTTP)
    await t.container.sessionMonitor.tick();
    await t.container.orchestrator.endSession(info.sessionId, 'stopped');
    await t.container.sessionMonitor.tick();
    const ended = (
      await t.app.inject({ url: `/api/v1/sessions/${info.sessionId}`, headers })
    ).json<Session>();
    expect(ended.state).toBe('ended');
    expect(ended.traffic).toMatchObject({ readBytesPerSec: 0, writeBytesPerSec: 0 });
    expect(ended.traffic!.readBytes).toBeGreaterThanOrEqual(second!.readBytes);
    expect(ended.traffic!.writtenBytes).toBeGreaterThanOrEqual(second!.writtenBytes);
    const row = await t.container.repos.sessions.findById(info.sessionId);
    expect(JSON.parse(row!.traffic!)).toMatchObject({ readBytes: ended.traffic!.readBytes });
  });
});
