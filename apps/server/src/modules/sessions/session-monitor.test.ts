import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BootEvent, TrafficSample } from '@ggnet/contracts';
import { FakeIscsiDriver } from '../../adapters/iscsi/iscsi-target.fake.js';
import { FakeTcpStats } from '../../adapters/tcp-stats/tcp-stats.fake.js';
import { ConfigSchema } from '../../config/config.schema.js';
import { createContainer, type Container } from '../../container.js';
import { migrateToLatest, nowIso } from '../../db/database.js';
import { connectionsBySession } from './session-monitor.js';

/**
 * The session monitor on SQLite with the fake iSCSI driver: a client's login and logout become boot
 * events that are stored AND published as `boot.event` (the console's boot activity refreshes on it).
 */
describe('SessionMonitor', () => {
  let dataDir: string;
  let c: Container;
  const driver = new FakeIscsiDriver();
  let tcp: FakeTcpStats;
  const iqn = 'iqn.2024-01.lan.ggnet:pc-01';
  const conn = { initiator: 'iqn.2024-01.lan.client:pc-01', address: '10.0.0.21', sid: '1', cid: '0' };

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ggnet-monitor-'));
    const config = ConfigSchema.parse({ dataDir, logLevel: 'silent', jwtSecret: 'x'.repeat(64) });
    tcp = new FakeTcpStats();
    c = createContainer(config, { log: pino({ level: 'silent' }), iscsiDriver: driver, tcpStats: tcp });
    await migrateToLatest(c.database);
    const at = nowIso();
    await c.repos.machines.insert({
      id: 'm1',
      name: 'pc-01',
      mac: '52:54:00:00:00:01',
      ip: null,
      install_media_id: null,
      description: '',
      enabled: 1,
      pending: 0,
      boot_image_id: null,
      extra_image_ids: null,
      keep_writeback: null,
      boot_mode: null,
      boot_menu: null,
      group_id: null,
      tags: '[]',
      initiator_iqn: conn.initiator,
      last_seen_at: null,
      last_ip: null,
      created_at: at,
      updated_at: at,
    });
    await c.repos.targets.insert({
      id: 't1',
      iqn,
      machine_id: 'm1',
      session_id: 's1',
      backend: 'tgt',
      luns: '[]',
      initiator_iqn: conn.initiator,
      chap_user: null,
      chap_secret: null,
      mutual_user: null,
      mutual_secret: null,
      allowed_address: null,
      tgt_daemon: null,
      portal_port: null,
      state: 'active',
      error: null,
      created_at: at,
      updated_at: at,
    });
    await c.repos.sessions.insert({
      id: 's1',
      machine_id: 'm1',
      image_id: null,
      version_id: null,
      target_id: 't1',
      writeback_id: null,
      mode: 'normal',
      state: 'ready',
      end_reason: null,
      error: null,
      client_ip: null,
      started_at: at,
      ready_at: at,
      active_at: null,
      ended_at: null,
      last_activity_at: null,
      connections: '[]',
      traffic: null,
    });
    await driver.createTarget(iqn);
  });

  afterEach(async () => {
    await c.close();
    driver.targets.clear();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('records and publishes iscsi_login and iscsi_logout, and marks the machine seen', async () => {
    const published: Array<{ type: string; data: unknown }> = [];
    c.bus.subscribe((e) => published.push({ type: e.type, data: e.data }));

    driver.targets.get(iqn)!.connections.push(conn);
    await c.sessionMonitor.tick();
    const login = published.filter((e) => e.type === 'boot.event').map((e) => e.data as BootEvent);
    expect(login).toEqual([
      expect.objectContaining({
        kind: 'iscsi_login',
        mac: '52:54:00:00:00:01',
        machineId: 'm1',
        sessionId: 's1',
        detail: { target: iqn, initiator: conn.initiator, address: conn.address },
      }),
    ]);
    expect(published.map((e) => e.type)).toContain('session.updated');
    expect((await c.repos.sessions.findById('s1'))?.state).toBe('active');
    expect((await c.repos.machines.findById('m1'))?.last_ip).toBe(conn.address);

    published.length = 0;
    driver.targets.get(iqn)!.connections.length = 0;
    await c.sessionMonitor.tick();
    expect(published.filter((e) => e.type === 'boot.event').map((e) => (e.data as BootEvent).kind)).toEqual([
      'iscsi_logout',
    ]);
    // what was published is what was stored
    const stored = await c.repos.bootEvents.ofSession('s1');
    expect(stored.map((e) => e.kind)).toEqual(['iscsi_login', 'iscsi_logout']);
    expect(stored[0]).toEqual(login[0]);
  });

  it("samples the TCP counters of the session's connections: totals across reconnects, rates, API, metrics, event", async () => {
    const samples: TrafficSample[] = [];
    c.bus.subscribe((e) => e.type === 'traffic.sample' && samples.push(e.data as TrafficSample));
    const port = (await c.iscsi.portalPorts())[0]!;
    expect(port).toBe(3260);
    driver.targets.get(iqn)!.connections.push(conn);
    tcp.set(conn.address, 40001, 1_000_000, 20_000, port);
    // another client's connection and a connection on another port are not this session's
    tcp.set('10.0.0.99', 40002, 7_000_000, 0, port);
    tcp.set(conn.address, 40003, 9_000_000, 0, 8080);
    await c.sessionMonitor.tick();
    expect(tcp.calls.at(-1)).toEqual([port]);
    expect((await c.sessions.get('s1')).traffic).toMatchObject({
      readBytes: 1_000_000,
      writtenBytes: 20_000,
    });

    tcp.set(conn.address, 40001, 5_000_000, 30_000, port);
    await c.sessionMonitor.tick();
    // the client drops its connection and logs in again from a new port
    tcp.close(conn.address, 40001);
    tcp.set(conn.address, 40004, 100_000, 5_000, port);
    await c.sessionMonitor.tick();
    const s = await c.sessions.get('s1');
    expect(s.traffic).toMatchObject({ readBytes: 5_100_000, writtenBytes: 35_000 });
    expect((await c.machines.get('m1')).traffic).toEqual(s.traffic);
    expect((await c.machines.list({ limit: 10, offset: 0 })).items[0]!.traffic).toEqual(s.traffic);

    expect(samples).toHaveLength(3);
    expect(samples.at(-1)!.machines).toEqual([
      { machineId: 'm1', machineName: 'pc-01', sessionId: 's1', traffic: s.traffic },
    ]);
    expect(samples.at(-1)!.total.readBytesPerSec).toBe(s.traffic!.readBytesPerSec);
    const snap = c.traffic.snapshot();
    expect(snap.machines[0]!.history).toHaveLength(3);
    expect(snap.total).toHaveLength(3);

    const metrics = await c.metrics.registry.metrics();
    expect(metrics).toContain('ggnet_session_bytes_total{machine="pc-01",direction="read"} 5100000');
    expect(metrics).toContain('ggnet_session_bytes_total{machine="pc-01",direction="write"} 35000');
    expect(metrics).toMatch(/ggnet_traffic_bytes_per_second\{direction="read"\} \d+/);

    // the session ends: it is no longer followed, and its row keeps its totals (no rate)
    tcp.set(conn.address, 40004, 200_000, 6_000, port);
    await c.sessionMonitor.tick();
    await c.orchestrator.endSession('s1', 'stopped');
    await c.sessionMonitor.tick();
    expect((await c.sessions.get('s1')).traffic).toEqual({
      readBytes: 5_200_000,
      writtenBytes: 36_000,
      readBytesPerSec: 0,
      writeBytesPerSec: 0,
      sampledAt: samples.at(-2)!.at,
    });
    expect(samples.at(-1)!.machines).toEqual([]);
    expect((await c.sessions.list({ limit: 10, offset: 0 })).items[0]!.traffic).toMatchObject({
      readBytes: 5_200_000,
    });
  });

  it('a restarted GGnet counts on from what the live session saved, not from the connections open now', async () => {
    const port = (await c.iscsi.portalPorts())[0]!;
    driver.targets.get(iqn)!.connections.push(conn);
    tcp.set(conn.address, 40001, 3_000_000, 1000, port);
    await c.sessionMonitor.tick();
    tcp.close(conn.address, 40001);
    tcp.set(conn.address, 40002, 500_000, 0, port);
    await c.sessionMonitor.tick(); // saved at the first sample only (then every 30 s): 3 MB
    expect((await c.repos.sessions.findById('s1'))?.traffic).toContain('"readBytes":3000000');
    // GGnet restarts; the client stays logged in on its second connection, which carried more since
    await c.close();
    c = createContainer(ConfigSchema.parse({ dataDir, logLevel: 'silent', jwtSecret: 'x'.repeat(64) }), {
      log: pino({ level: 'silent' }),
      iscsiDriver: driver,
      tcpStats: tcp,
    });
    tcp.set(conn.address, 40002, 800_000, 0, port);
    expect((await c.sessions.get('s1')).traffic).toMatchObject({ readBytes: 3_000_000, readBytesPerSec: 0 });
    await c.sessionMonitor.tick();
    // 3 MB of the closed connection + all 800 kB of the one that was not saved open
    expect((await c.sessions.get('s1')).traffic).toMatchObject({ readBytes: 3_800_000, writtenBytes: 1000 });
    tcp.set(conn.address, 40002, 900_000, 0, port);
    await c.sessionMonitor.tick();
    expect((await c.sessions.get('s1')).traffic).toMatchObject({ readBytes: 3_900_000 });
  });

  it('an address two live sessions share is counted for neither', () => {
    const tcpConn = (address: string, port: number) => ({
      local: { address: '10.0.0.1', port: 3260 },
      remote: { address, port },
      bytesAcked: 1,
      bytesSent: 1,
      bytesReceived: 1,
    });
    const out = connectionsBySession(
      [
        { sessionId: 'a', addresses: ['10.0.0.5', '10.0.0.5'] },
        { sessionId: 'b', addresses: ['10.0.0.6'] },
        { sessionId: 'c', addresses: ['10.0.0.6'] },
        { sessionId: 'd', addresses: [] },
      ],
      [tcpConn('10.0.0.5', 1), tcpConn('10.0.0.5', 2), tcpConn('10.0.0.6', 3), tcpConn('10.0.0.7', 4)],
    );
    expect(Object.fromEntries([...out].map(([k, v]) => [k, v.map((x) => x.remote.port)]))).toEqual({
      a: [1, 2],
      b: [],
      c: [],
      d: [],
    });
  });
});
