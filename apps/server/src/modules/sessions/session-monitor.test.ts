import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BootEvent } from '@ggnet/contracts';
import { FakeIscsiDriver } from '../../adapters/iscsi/iscsi-target.fake.js';
import { ConfigSchema } from '../../config/config.schema.js';
import { createContainer, type Container } from '../../container.js';
import { migrateToLatest, nowIso } from '../../db/database.js';

/**
 * The session monitor on SQLite with the fake iSCSI driver: a client's login and logout become boot
 * events that are stored AND published as `boot.event` (the console's boot activity refreshes on it).
 */
describe('SessionMonitor', () => {
  let dataDir: string;
  let c: Container;
  const driver = new FakeIscsiDriver();
  const iqn = 'iqn.2024-01.lan.ggnet:pc-01';
  const conn = { initiator: 'iqn.2024-01.lan.client:pc-01', address: '10.0.0.21', sid: '1', cid: '0' };

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ggnet-monitor-'));
    const config = ConfigSchema.parse({ dataDir, logLevel: 'silent', jwtSecret: 'x'.repeat(64) });
    c = createContainer(config, { log: pino({ level: 'silent' }), iscsiDriver: driver });
    await migrateToLatest(c.database);
    const at = nowIso();
    await c.repos.machines.insert({
      id: 'm1',
      name: 'pc-01',
      mac: '52:54:00:00:00:01',
      ip: null,
      description: '',
      enabled: 1,
      pending: 0,
      boot_image_id: null,
      extra_image_ids: '[]',
      keep_writeback: 0,
      boot_mode: 'auto',
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
});
