import { afterEach, beforeEach, expect, it } from 'vitest';
import { FakeDnsmasq } from '../../src/adapters/dnsmasq/dnsmasq.fake.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

describeEachDialect('users, settings, audit', (dialect) => {
  let t: TestContext;
  let h: Record<string, string>;
  beforeEach(async () => {
    t = await createTestContext(dialect, { config: { settings: { dhcp: { mode: 'off' } } } });
    h = await t.auth();
  });
  afterEach(async () => t.close());

  it('manages users: create, duplicate, role change, disable, reset password, delete', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: h,
      payload: { username: 'Alice', password: 'alice-password', role: 'operator' },
    });
    expect(res.statusCode).toBe(201);
    const alice = res.json();
    expect(alice).toMatchObject({ username: 'alice', role: 'operator', disabled: false });
    expect(JSON.stringify(alice)).not.toMatch(/password|hash/);
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/users',
          headers: h,
          payload: { username: 'alice', password: 'x-password' },
        })
      ).json().code,
    ).toBe('username_taken');
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/users',
          headers: h,
          payload: { username: 'bob', password: 'short' },
        })
      ).statusCode,
    ).toBe(400);

    const login = (pw: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'alice', password: pw },
      });
    const pair = (await login('alice-password')).json();
    const reset = await t.app.inject({
      method: 'POST',
      url: `/api/v1/users/${alice.id}/password`,
      headers: h,
      payload: { password: 'new-alice-pw' },
    });
    expect(reset.statusCode).toBe(200);
    expect((await login('alice-password')).statusCode).toBe(401);
    expect((await login('new-alice-pw')).statusCode).toBe(200);
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/refresh',
          payload: { refreshToken: pair.refreshToken },
        })
      ).statusCode,
    ).toBe(401);

    const list = await t.app.inject({ method: 'GET', url: '/api/v1/users?role=operator', headers: h });
    expect(list.json().items.map((u: { username: string }) => u.username)).toEqual(['alice']);
    const promote = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${alice.id}`,
      headers: h,
      payload: { role: 'viewer' },
    });
    expect(promote.json().role).toBe('viewer');
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${alice.id}`, headers: h })).statusCode,
    ).toBe(204);
  });

  it('never lets the last admin go, and admins cannot lock themselves out', async () => {
    const me = (await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: h })).json();
    const demote = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${me.id}`,
      headers: h,
      payload: { role: 'viewer' },
    });
    expect(demote.statusCode).toBe(409);
    expect(demote.json().code).toBe('last_admin');
    const other = await t.container.users.create({
      username: 'admin2',
      password: 'admin2-password',
      role: 'admin',
    });
    expect(
      (
        await t.app.inject({
          method: 'PATCH',
          url: `/api/v1/users/${me.id}`,
          headers: h,
          payload: { disabled: true },
        })
      ).json().code,
    ).toBe('self_lockout');
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${me.id}`, headers: h })).json().code,
    ).toBe('self_lockout');
    expect(
      (
        await t.app.inject({
          method: 'PATCH',
          url: `/api/v1/users/${other.id}`,
          headers: h,
          payload: { disabled: true },
        })
      ).statusCode,
    ).toBe(200);
    // admin2 is disabled: admin is the last enabled admin again
    expect(
      (
        await t.app.inject({
          method: 'PATCH',
          url: `/api/v1/users/${me.id}`,
          headers: h,
          payload: { role: 'operator' },
        })
      ).json().code,
    ).toBe('last_admin');
  });

  it('reads and changes settings, validated per field and as a whole, with env-pinned keys locked', async () => {
    const get = await t.app.inject({ method: 'GET', url: '/api/v1/settings', headers: h });
    expect(get.statusCode).toBe(200);
    expect(get.json().locked).toEqual(['dhcp.mode']);
    expect(get.json().settings.iscsi.portal).toBe('0.0.0.0:3260');

    const put = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { iscsi: { iqnDomain: 'cafe.example' }, boot: { menu: true, menuTimeoutSec: 3 } },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json().settings).toMatchObject({
      iscsi: { iqnDomain: 'cafe.example', portal: '0.0.0.0:3260' },
      boot: { menu: true, menuTimeoutSec: 3, retries: 3 },
    });
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/settings', headers: h })).json().settings.iscsi
        .iqnDomain,
    ).toBe('cafe.example');

    const locked = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { dhcp: { mode: 'dhcp' } },
    });
    expect(locked.statusCode).toBe(409);
    expect(locked.json().code).toBe('setting_locked');

    const bad = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { iscsi: { portal: 'nowhere' }, boot: { retries: -1 } },
    });
    expect(bad.statusCode).toBe(400);
    expect(
      bad
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['body.boot.retries', 'body.iscsi.portal']);

    const cross = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { dhcp: { rangeStart: '10.0.0.200', rangeEnd: '10.0.0.100' } },
    });
    expect(cross.statusCode).toBe(422);
    expect(cross.json().errors[0].path).toBe('dhcp.rangeEnd');

    // a netmask of 0.0.0.0 makes 1.0.0.1-223.255.255.254 "one subnet": refused with the field, a code
    // and a hint, and so is every netmask shorter than /16 (see crossCheck)
    for (const [netmask, rangeStart, rangeEnd] of [
      ['0.0.0.0', '1.0.0.1', '223.255.255.254'],
      ['255.0.0.0', '10.0.0.1', '10.255.255.254'],
      ['255.254.0.0', '10.0.0.1', '10.1.255.254'],
    ]) {
      const huge = await t.app.inject({
        method: 'PUT',
        url: '/api/v1/settings',
        headers: h,
        payload: { dhcp: { netmask, rangeStart, rangeEnd } },
      });
      expect(huge.statusCode, huge.body).toBe(422);
      expect(huge.headers['content-type']).toContain('application/problem+json');
      expect(huge.json()).toMatchObject({
        code: 'invalid_settings',
        hint: expect.stringContaining('netmask of the boot network'),
      });
      expect(huge.json().errors).toContainEqual({
        path: 'dhcp.netmask',
        message: expect.stringContaining('at most 65,534 addresses (netmask 255.255.0.0'),
      });
    }
    // a /16 is the largest boot network, its first and last addresses are not for clients
    const edge = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { dhcp: { netmask: '255.255.0.0', rangeStart: '10.8.0.0', rangeEnd: '10.8.255.255' } },
    });
    expect(edge.statusCode).toBe(422);
    expect(
      edge
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['dhcp.rangeEnd', 'dhcp.rangeStart']);
    const wide = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { dhcp: { netmask: '255.255.0.0', rangeStart: '10.8.0.1', rangeEnd: '10.8.255.254' } },
    });
    expect(wide.statusCode, wide.body).toBe(200);
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { dhcp: { netmask: '255.255.255.0', rangeStart: null, rangeEnd: null } },
    });

    const img = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/settings',
      headers: h,
      payload: { machines: { defaultImageId: 'no-such-image' } },
    });
    expect(img.statusCode).toBe(422);
    expect(img.json().errors[0].path).toBe('machines.defaultImageId');
    // nothing of the refused changes was stored
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/settings', headers: h })).json().settings.dhcp
        .rangeStart,
    ).toBeNull();
  });

  it('a DHCP range pinned by the environment that no check has seen is reported, never computed', async () => {
    // GGNET_DHCP_RANGE + a stored netmask of 0.0.0.0 (e.g. saved by an older version): the pool would
    // be 3.7 billion addresses. The DHCP service reports it at once and leaves dnsmasq alone.
    const dnsmasq = new FakeDnsmasq();
    const p = await createTestContext(dialect, {
      container: { dnsmasq },
      config: {
        settings: {
          dhcp: { mode: 'dhcp', iface: 'lo', rangeStart: '1.0.0.1', rangeEnd: '223.255.255.254' },
          network: { bootAddr: '127.0.0.1' },
        },
      },
    });
    try {
      await p.container.repos.settings.put(
        { dhcp: { netmask: '0.0.0.0' } },
        'old-version',
        new Date().toISOString(),
      );
      p.container.settings.invalidate();
      for (let i = 1; i <= 40; i++)
        await p.container.machines.create({
          name: `pc-${i}`,
          mac: `52:54:00:00:77:${i.toString(16).padStart(2, '0')}`,
        });
      await p.container.dhcp.reconcile();
      await p.container.dhcp.reconcile(); // every pass: the same report, no exception
      expect(dnsmasq.applied.every((c) => c === null)).toBe(true);
      const st = await p.app.inject({ url: '/api/v1/dhcp/status', headers: await p.auth() });
      expect(st.json().problem).toContain('dhcp.netmask: /0 is too large');
    } finally {
      await p.close();
    }
  });

  it('writes an audit entry for every mutating request, successful or not, readable by admins', async () => {
    const op = await t.auth('operator');
    const m = await t.app.inject({
      method: 'POST',
      url: '/api/v1/machines',
      headers: op,
      payload: { name: 'pc-a', mac: '52:54:00:00:60:01' },
      remoteAddress: '10.1.2.3',
    });
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/machines',
      headers: op,
      payload: { name: 'bad name', mac: 'x' },
    });
    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/machines/${m.json().id}`,
      headers: op,
      payload: { description: 'moved' },
    });
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin', password: 'wrong-password' },
      remoteAddress: '10.9.9.9',
    });
    await t.app.inject({ method: 'GET', url: '/api/v1/machines', headers: op });

    // the audit row is written when the response has gone out: wait until the last one is there
    let res = await t.app.inject({ method: 'GET', url: '/api/v1/audit?limit=10', headers: h });
    for (let i = 0; i < 50 && !JSON.stringify(res.json().items).includes('"auth.login"'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      res = await t.app.inject({ method: 'GET', url: '/api/v1/audit?limit=10', headers: h });
    }
    expect(res.statusCode).toBe(200);
    const items = res.json().items as Array<Record<string, unknown>>;
    const actions = items.map((i) => `${String(i.action)} ${String(i.statusCode)}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'machine.create 201',
        'machine.create 400',
        'machine.update 200',
        'auth.login 401',
      ]),
    );
    expect(actions.some((a) => a.startsWith('GET'))).toBe(false);
    const create = items.find((i) => i.action === 'machine.create' && i.statusCode === 201)!;
    expect(create).toMatchObject({
      username: 'test-operator',
      targetType: 'machine',
      targetId: m.json().id,
      ip: '10.1.2.3',
      method: 'POST',
      path: '/api/v1/machines',
    });
    const failedLogin = items.find((i) => i.action === 'auth.login')!;
    expect(failedLogin).toMatchObject({ username: 'admin', ip: '10.9.9.9', statusCode: 401 });

    const filtered = await t.app.inject({
      method: 'GET',
      url: '/api/v1/audit?action=machine.&limit=2&offset=0',
      headers: h,
    });
    expect(filtered.json().items).toHaveLength(2);
    expect(filtered.json().total).toBeGreaterThanOrEqual(3);
  });

  it("audit search takes % and _ literally on both databases (SQLite's LIKE has no escape unless named)", async () => {
    const row = (action: string, targetId: string) => ({
      at: new Date().toISOString(),
      user_id: null,
      username: 'admin',
      action,
      method: 'POST',
      path: '/api/v1/x',
      target_type: 'machine',
      target_id: targetId,
      status_code: 200,
      ip: '127.0.0.1',
    });
    await t.container.repos.audit.insert(row('zz_like.one', 'ab_cd'));
    await t.container.repos.audit.insert(row('zzxlike.two', 'abxcd'));
    await t.container.repos.audit.insert(row('zz%like.three', 'ab%cd'));
    const h = { authorization: `Bearer ${await t.token('admin')}` };
    const ids = async (query: string) =>
      (await t.app.inject({ method: 'GET', url: `/api/v1/audit?limit=50&${query}`, headers: h }))
        .json()
        .items.map((i: { targetId: string }) => i.targetId);
    expect(await ids('q=b_c')).toEqual(['ab_cd']);
    expect(await ids('q=b%25c')).toEqual(['ab%cd']);
    expect(await ids('q=abxcd')).toEqual(['abxcd']);
    expect(await ids('action=zz_')).toEqual(['ab_cd']);
    expect(await ids('action=zz%25')).toEqual(['ab%cd']);
  });

  it('asks to cancel queued and running jobs and refuses to cancel a finished one', async () => {
    const now = new Date().toISOString();
    const base = {
      type: 'convert',
      payload: '{}',
      result: null,
      progress: null,
      attempts: 0,
      max_attempts: 3,
      error: null,
      run_at: now,
      lease_owner: null,
      lease_expires_at: null,
      cancel_requested: 0,
      created_by: 'admin',
      created_at: now,
      started_at: null,
      finished_at: null,
      updated_at: now,
    };
    await t.container.database.db
      .insertInto('jobs')
      .values([
        { ...base, id: 'job-queued', state: 'queued' },
        { ...base, id: 'job-running', state: 'running' },
        { ...base, id: 'job-done', state: 'succeeded' },
      ])
      .execute();
    const op = await t.auth('operator');
    const c1 = await t.app.inject({ method: 'POST', url: '/api/v1/jobs/job-queued/cancel', headers: op });
    // a queued job is finished by the next worker (which runs its cleanup), not by the request
    expect(c1.json()).toMatchObject({ state: 'queued', cancelRequested: true });
    const c2 = await t.app.inject({ method: 'POST', url: '/api/v1/jobs/job-running/cancel', headers: op });
    expect(c2.json()).toMatchObject({ state: 'running', cancelRequested: true });
    expect(
      (await t.app.inject({ method: 'POST', url: '/api/v1/jobs/job-done/cancel', headers: op })).json().code,
    ).toBe('job_finished');
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/jobs?state=running', headers: op });
    expect(list.json().items.map((j: { id: string }) => j.id)).toEqual(['job-running']);
  });
});
