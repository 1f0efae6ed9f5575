import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { SessionRow } from '../../src/modules/sessions/sessions.repository.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

/**
 * The prepared_boots table (migration 0018) on both dialects: the claim is one conditional DELETE
 * and the session's INSERT in one transaction, so of many concurrent requests exactly one gets the
 * prepared boot, and a machine with a live session gets none (nothing is written then).
 */
describeEachDialect('prepared boots: claim', (dialect) => {
  let t: TestContext;
  beforeEach(async () => {
    t = await createTestContext(dialect, { app: false });
  });
  afterEach(async () => t.close());

  const sessionRow = (id: string, machineId: string): SessionRow => {
    const now = new Date().toISOString();
    return {
      id,
      machine_id: machineId,
      image_id: null,
      version_id: null,
      target_id: null,
      writeback_id: null,
      mode: 'normal',
      state: 'ready',
      end_reason: null,
      error: null,
      client_ip: '10.0.0.9',
      started_at: now,
      ready_at: now,
      active_at: null,
      ended_at: null,
      last_activity_at: null,
      connections: '[]',
      traffic: null,
    };
  };

  async function preparedMachine(name: string, mac: string) {
    const m = await t.container.machines.create({ name, mac });
    const sessionId = randomUUID();
    await t.container.repos.preparedBoots.insert({
      machine_id: m.id,
      session_id: sessionId,
      target_id: null,
      state: 'preparing',
      fingerprint: '{}',
      created_at: new Date().toISOString(),
      ready_at: null,
    });
    return { m, sessionId };
  }

  it('twelve concurrent claims: exactly one gets the prepared boot and one session row exists', async () => {
    const { m, sessionId } = await preparedMachine('pc-c', '52:54:00:00:0c:01');
    const repo = t.container.repos.preparedBoots;
    // not ready yet: nobody can claim it
    const early = (await repo.findByMachine(m.id))!;
    expect(
      await repo.claim(early, (trx) => t.container.repos.sessions.insert(sessionRow(sessionId, m.id), trx)),
    ).toBe(false);
    expect(await repo.markReady(m.id, sessionId, 'target-1')).toBe(1);
    expect(await repo.markReady(m.id, sessionId, 'target-1')).toBe(0);
    const p = (await repo.findByMachine(m.id))!;
    expect(p).toMatchObject({ state: 'ready', target_id: 'target-1' });

    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        repo.claim(p, (trx) => t.container.repos.sessions.insert(sessionRow(sessionId, m.id), trx)),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await repo.findByMachine(m.id)).toBeUndefined();
    const sessions = await t.container.repos.sessions.list({ limit: 50, offset: 0, machineId: m.id });
    expect(sessions.items.map((s) => s.id)).toEqual([sessionId]);
  });

  it('a machine with a live session: the claim writes nothing and the prepared row stays', async () => {
    const { m, sessionId } = await preparedMachine('pc-l', '52:54:00:00:0c:02');
    const repo = t.container.repos.preparedBoots;
    await repo.markReady(m.id, sessionId, 'target-2');
    const other = randomUUID();
    await t.container.repos.sessions.insert(sessionRow(other, m.id));
    const p = (await repo.findByMachine(m.id))!;
    expect(
      await repo.claim(p, (trx) => t.container.repos.sessions.insert(sessionRow(sessionId, m.id), trx)),
    ).toBe(false);
    expect(await repo.findByMachine(m.id)).toMatchObject({ session_id: sessionId, state: 'ready' });
    expect(await t.container.repos.sessions.findById(sessionId)).toBeUndefined();
  });

  it('one prepared boot per machine; remove once; a deleted machine takes its row along', async () => {
    const { m, sessionId } = await preparedMachine('pc-d', '52:54:00:00:0c:03');
    const repo = t.container.repos.preparedBoots;
    await expect(
      repo.insert({
        machine_id: m.id,
        session_id: randomUUID(),
        target_id: null,
        state: 'preparing',
        fingerprint: '{}',
        created_at: new Date().toISOString(),
        ready_at: null,
      }),
    ).rejects.toThrow();
    expect(await repo.sessionIds()).toEqual(new Set([sessionId]));
    await t.container.machines.delete(m.id);
    expect(await repo.findByMachine(m.id)).toBeUndefined();
    expect(await repo.remove(m.id, sessionId)).toBe(false);

    const again = await preparedMachine('pc-e', '52:54:00:00:0c:04');
    expect(await repo.remove(again.m.id, again.sessionId)).toBe(true);
    expect(await repo.remove(again.m.id, again.sessionId)).toBe(false);
  });
});
