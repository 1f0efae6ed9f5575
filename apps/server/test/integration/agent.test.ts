import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Procs, waitFor } from '@ggnet/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { AGENT_ASSETS_DIR } from '../../src/modules/agent/agent-assets.js';
import {
  bootClient,
  bootTestContext,
  publishedImage,
  result,
  type BootTestContext,
} from '../helpers/boot.js';
import { describeEachDialect } from '../helpers/test-context.js';

const MAC_A = '52:54:00:aa:00:01';
const MAC_B = '52:54:00:aa:00:02';
const IP_A = '10.0.0.51';
const IP_B = '10.0.0.52';

describeEachDialect('client agent', (dialect) => {
  let b: BootTestContext;
  beforeEach(async () => {
    b = await bootTestContext(dialect);
  });
  afterEach(async () => b.t.close());

  /** Two approved machines with an image, each booted (a live session) from its own address. */
  async function booted() {
    const img = await publishedImage(b.t);
    const ids: Record<string, { machineId: string; sessionId: string }> = {};
    for (const [name, mac, ip] of [
      ['pc-a', MAC_A, IP_A],
      ['pc-b', MAC_B, IP_B],
    ] as const) {
      const m = await b.t.container.machines.create({ name, mac, bootImageId: img.id });
      const r = await bootClient(b.t).boot(mac, ip);
      expect(result(r)).toBe('boot');
      ids[name] = { machineId: m.id, sessionId: (await b.t.container.machines.get(m.id)).sessionId! };
    }
    return ids as Record<'pc-a' | 'pc-b', { machineId: string; sessionId: string }>;
  }
  const claim = (ip: string) =>
    b.t.app.inject({ method: 'POST', url: '/boot/agent/claim', remoteAddress: ip });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const report = (ip: string, token: string, body: object) =>
    b.t.app.inject({
      method: 'POST',
      url: '/boot/agent/report',
      remoteAddress: ip,
      headers: bearer(token),
      payload: body,
    });
  const poll = (ip: string, token: string, q = 'wait=0') =>
    b.t.app.inject({
      method: 'GET',
      url: `/boot/agent/commands?${q}`,
      remoteAddress: ip,
      headers: bearer(token),
    });
  const send = async (machineId: string, body: object, role: 'operator' | 'viewer' = 'operator') =>
    b.t.app.inject({
      method: 'POST',
      url: `/api/v1/machines/${machineId}/agent/commands`,
      headers: await b.t.auth(role),
      payload: body,
    });
  const machine = async (id: string) =>
    (await b.t.app.inject({ url: `/api/v1/machines/${id}`, headers: await b.t.auth('viewer') })).json();

  it('claims once from the session address only; a token works for its own session only; stores a hash', async () => {
    const s = await booted();
    expect((await machine(s['pc-a'].machineId)).agent).toMatchObject({ state: 'not_installed', facts: null });
    // no live session at that address
    const stranger = await claim('10.0.0.99');
    expect(stranger.statusCode).toBe(404);
    expect(stranger.json()).toMatchObject({ code: 'no_session' });
    const a = await claim(IP_A);
    expect(a.statusCode).toBe(200);
    const ta = a.json();
    expect(ta).toMatchObject({
      sessionId: s['pc-a'].sessionId,
      machineId: s['pc-a'].machineId,
      heartbeatSec: 30,
    });
    expect(ta.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // once per session: a second claim (another program at that PC) is refused
    const again = await claim(IP_A);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'agent_already_claimed' });
    expect(again.body).not.toContain(ta.token);
    // only the hash is stored
    const rows = await b.t.container.database.db.selectFrom('agent_sessions').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows)).not.toContain(ta.token);

    const tb = (await claim(IP_B)).json();
    expect(tb.sessionId).toBe(s['pc-b'].sessionId);
    // A's token from B's address (session B) is refused, and so is a made-up or missing token
    const cross = await report(IP_B, ta.token, { hostname: 'evil' });
    expect(cross.statusCode).toBe(401);
    expect(cross.json()).toMatchObject({ code: 'agent_token_invalid' });
    expect((await poll(IP_B, ta.token)).statusCode).toBe(401);
    expect((await report(IP_A, 'x'.repeat(43), {})).json()).toMatchObject({ code: 'agent_token_invalid' });
    const none = await b.t.app.inject({
      method: 'POST',
      url: '/boot/agent/report',
      remoteAddress: IP_A,
      payload: {},
    });
    expect(none.json()).toMatchObject({ code: 'agent_token_missing' });
    // each token works from its own session's address
    expect((await report(IP_A, ta.token, { hostname: 'pc-a.lan' })).statusCode).toBe(200);
    expect((await report(IP_B, tb.token, { hostname: 'pc-b.lan' })).statusCode).toBe(200);
    expect((await machine(s['pc-a'].machineId)).agent.facts.hostname).toBe('pc-a.lan');
    expect((await machine(s['pc-b'].machineId)).agent.facts.hostname).toBe('pc-b.lan');

    // the session ends: the token is dead, pending commands expire, the agent shows offline
    expect((await send(s['pc-a'].machineId, { type: 'message', text: 'hi' })).statusCode).toBe(202);
    await b.t.container.orchestrator.endSession(s['pc-a'].sessionId, 'stopped');
    const dead = await report(IP_A, ta.token, { hostname: 'pc-a.lan' });
    expect(dead.statusCode).toBe(401);
    expect((await poll(IP_A, ta.token)).statusCode).toBe(401);
    await waitFor(
      'the command to expire',
      async () =>
        (
          await b.t.app.inject({
            url: `/api/v1/machines/${s['pc-a'].machineId}/agent/commands`,
            headers: await b.t.auth('viewer'),
          })
        ).json().items[0]?.state === 'expired',
      5000,
    );
    expect((await machine(s['pc-a'].machineId)).agent.state).toBe('offline');
    // a new boot of A is a new session: a new claim works, the old token stays dead
    expect(result(await bootClient(b.t).boot(MAC_A, IP_A))).toBe('boot');
    const ta2 = (await claim(IP_A)).json();
    expect(ta2.token).not.toBe(ta.token);
    expect((await report(IP_A, ta.token, {})).statusCode).toBe(401);
    expect((await report(IP_A, ta2.token, {})).statusCode).toBe(200);
    // one row per machine: the older session's claim is gone
    const left = await b.t.container.database.db
      .selectFrom('agent_sessions')
      .select('session_id')
      .where('machine_id', '=', s['pc-a'].machineId)
      .execute();
    expect(left.map((r) => r.session_id)).toEqual([ta2.sessionId]);
  });

  it('reports facts and OS up once; commands: offline error, long poll, ack, audit, events; bounded input', async () => {
    const s = await booted();
    const id = s['pc-a'].machineId;
    // no agent: a clear error
    const off = await send(id, { type: 'shutdown' });
    expect(off.statusCode).toBe(409);
    expect(off.json()).toMatchObject({ code: 'agent_offline', hint: expect.stringContaining('agent') });
    expect(off.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await send(id, { type: 'shutdown' }, 'viewer')).statusCode).toBe(403);
    expect((await send(id, { type: 'message' })).statusCode).toBe(400);
    expect((await send(id, { type: 'dance' })).statusCode).toBe(400);

    const { token } = (await claim(IP_A)).json();
    const facts = {
      hostname: 'pc-a',
      osVersion: 'Debian GNU/Linux 13 (trixie); Linux 6.12.0',
      users: ['alice', 'bob', 'alice'],
      uptimeSec: 42,
      cpuModel: 'QEMU Virtual CPU',
      cpuCount: 2,
      load1: 0.12,
      memTotalBytes: 2147483648,
      memAvailableBytes: 1073741824,
      agentVersion: '1',
      extra: 'ignored',
    };
    const r1 = await report(IP_A, token, facts);
    expect(r1.json()).toEqual({ ok: true, heartbeatSec: 30, osUpRecorded: true });
    expect((await report(IP_A, token, facts)).json().osUpRecorded).toBe(false);
    const m = await machine(id);
    expect(m.agent).toMatchObject({
      state: 'online',
      sessionId: s['pc-a'].sessionId,
      facts: { hostname: 'pc-a', users: ['alice', 'bob'], uptimeSec: 42, memTotalBytes: 2147483648 },
    });
    const list = await b.t.app.inject({ url: '/api/v1/machines', headers: await b.t.auth('viewer') });
    const row = list.json().items.find((x: { id: string }) => x.id === id);
    expect(row.agent.state).toBe('online');
    expect(list.json().items.find((x: { id: string }) => x.id !== id).agent.state).toBe('not_installed');
    // OS up in the timeline comes from the agent, once
    const tl = await b.t.app.inject({
      url: `/api/v1/sessions/${s['pc-a'].sessionId}/timeline`,
      headers: await b.t.auth('viewer'),
    });
    const ups = tl.json().items.filter((e: { kind: string }) => e.kind === 'os_up');
    expect(ups).toHaveLength(1);
    expect(ups[0].detail).toMatchObject({ source: 'agent', hostname: 'pc-a' });
    // bounded input: too long a field, too big a body
    expect((await report(IP_A, token, { hostname: 'x'.repeat(300) })).statusCode).toBe(400);
    const big = await report(IP_A, token, {
      users: Array.from({ length: 40 }, () => 'u'.repeat(64)),
      pad: 'x'.repeat(20_000),
    });
    expect(big.statusCode).toBe(413);

    // nothing queued: an immediate poll is empty
    expect((await poll(IP_A, token)).json()).toEqual({ commands: [] });
    // a long poll waits and is answered as soon as a command is sent
    const t0 = Date.now();
    const waiting = poll(IP_A, token, 'wait=20');
    await new Promise((r) => setTimeout(r, 300));
    const sent = await send(id, { type: 'message', text: 'Closing in 10 minutes\nplease save' });
    expect(sent.statusCode).toBe(202);
    expect(sent.json()).toMatchObject({ type: 'message', state: 'queued', createdBy: 'test-operator' });
    const got = await waiting;
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(got.json().commands).toEqual([
      { id: sent.json().id, type: 'message', text: 'Closing in 10 minutes\nplease save' },
    ]);
    // delivered but not acknowledged: handed out again (a lost answer loses nothing), text format
    const text = await poll(IP_A, token, 'wait=0&format=text');
    expect(text.headers['content-type']).toMatch(/^text\/plain/);
    const [cid, type, b64] = text.body.trim().split(' ');
    expect([cid, type]).toEqual([sent.json().id, 'message']);
    expect(Buffer.from(b64!, 'base64').toString('utf8')).toBe('Closing in 10 minutes\nplease save');
    const ack = await b.t.app.inject({
      method: 'POST',
      url: `/boot/agent/commands/${cid}/ack`,
      remoteAddress: IP_A,
      headers: bearer(token),
      payload: { status: 'done', detail: 'shown' },
    });
    expect(ack.json()).toMatchObject({ state: 'done', result: 'shown' });
    // acknowledged once; another session's agent cannot acknowledge it
    const twice = await b.t.app.inject({
      method: 'POST',
      url: `/boot/agent/commands/${cid}/ack`,
      remoteAddress: IP_A,
      headers: bearer(token),
      payload: { status: 'done' },
    });
    expect(twice.json()).toMatchObject({ code: 'command_not_found' });
    expect((await poll(IP_A, token)).json()).toEqual({ commands: [] });

    // a shutdown acknowledged: at the iSCSI logout the session ends with reason shutdown
    const sd = (await send(id, { type: 'shutdown' })).json();
    expect((await poll(IP_A, token)).json().commands[0]).toMatchObject({ id: sd.id, type: 'shutdown' });
    await b.t.app.inject({
      method: 'POST',
      url: `/boot/agent/commands/${sd.id}/ack`,
      remoteAddress: IP_A,
      headers: bearer(token),
      payload: { status: 'done', detail: 'powering off' },
    });
    // what the session monitor publishes when tgtd drops the PC's connection
    b.t.container.bus.publish('boot.event', '1', { kind: 'iscsi_logout', sessionId: s['pc-a'].sessionId });
    await waitFor(
      'the session to end with reason shutdown',
      async () => (await b.t.container.sessions.get(s['pc-a'].sessionId)).endReason === 'shutdown',
      5000,
    );
    // audited and on the WebSocket
    const audit = await b.t.app.inject({ url: '/api/v1/audit?limit=50', headers: await b.t.auth('admin') });
    const actions = audit
      .json()
      .items.filter((x: { action: string }) => x.action === 'machine.agent_command');
    expect(actions.length).toBeGreaterThanOrEqual(2);
    expect(actions[0]).toMatchObject({ targetType: 'machine', targetId: id });
    const types = new Set(b.events.map((e) => e.type));
    expect(types).toContain('agent.updated');
    expect(types).toContain('agent.command');
    for (const e of b.events.filter((x) => x.type.startsWith('agent.')))
      expect(JSON.stringify(e)).not.toContain(token);
  });

  it('the OpenAPI spec has the agent routes; GGnet serves the agent, its unit and its installer', async () => {
    const spec = (await b.t.app.inject({ url: '/api/openapi.json' })).json();
    const cmd = spec.paths['/api/v1/machines/{id}/agent/commands'];
    expect(cmd.post.requestBody.content['application/json'].schema.properties.type.enum).toEqual([
      'shutdown',
      'reboot',
      'message',
    ]);
    expect(Object.keys(cmd.post.responses)).toContain('202');
    expect(spec.paths['/boot/agent/claim'].post).toBeTruthy();
    expect(spec.paths['/boot/agent/commands'].get.parameters.map((p: { name: string }) => p.name)).toContain(
      'wait',
    );
    const sh = await b.t.app.inject({ url: '/boot/agent/ggnet-agent.sh', remoteAddress: IP_A });
    expect(sh.statusCode).toBe(200);
    expect(sh.body).toMatch(/^#!\/bin\/sh\n/);
    expect(sh.body).toContain('/boot/agent/claim');
    const unit = await b.t.app.inject({ url: '/boot/agent/ggnet-agent.service', remoteAddress: IP_A });
    expect(unit.body).toContain('ExecStart=/usr/local/sbin/ggnet-agent');
    // the installer knows the address the PC reached GGnet by (nothing secret in it)
    const inst = await b.t.app.inject({
      url: '/boot/agent/install.sh',
      remoteAddress: IP_A,
      headers: { host: '10.0.0.1:8080' },
    });
    expect(inst.body).toContain("GGNET_URL='http://10.0.0.1:8080'");
    expect(inst.body).not.toContain('@GGNET_URL@');
    const bad = await b.t.app.inject({ url: '/boot/agent/..%2f..%2fpackage.json', remoteAddress: IP_A });
    expect(bad.statusCode).toBe(404);
    expect((await b.t.app.inject({ url: '/boot/agent/secrets', remoteAddress: IP_A })).statusCode).toBe(404);
  });

  it('the shipped shell agent (curl, and busybox wget without curl) claims, reports, shows a message, powers off, claims again after a new boot', async () => {
    const procs = new Procs();
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-agent-'));
    try {
      const img = await publishedImage(b.t);
      await b.t.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (b.t.app.server.address() as { port: number }).port;
      // busybox-only PATH: sh, wget, sed... and no curl
      const bb = join(dir, 'bb');
      mkdirSync(bb);
      for (const a of [
        'sh',
        'wget',
        'sed',
        'cut',
        'grep',
        'head',
        'cat',
        'mkdir',
        'mv',
        'rm',
        'sleep',
        'base64',
        'uname',
        'touch',
        'sync',
      ])
        symlinkSync('/usr/bin/busybox', join(bb, a));
      for (const [n, tool, path] of [
        [1, 'curl', process.env.PATH ?? '/usr/bin:/bin'],
        [2, 'wget', bb],
      ] as const) {
        const m = await b.t.container.machines.create({
          name: `sh-${n}`,
          mac: `52:54:00:bb:00:0${n}`,
          bootImageId: img.id,
        });
        // each run is a boot from 127.0.0.1 (the previous machine's session ended first)
        await b.t.container.database.db
          .updateTable('sessions')
          .set({ state: 'ended', end_reason: 'stopped', ended_at: new Date().toISOString() })
          .where('state', '<>', 'ended')
          .execute();
        expect(result(await bootClient(b.t).boot(m.mac, '127.0.0.1'))).toBe('boot');
        const consoleFile = join(dir, `console-${n}`);
        const off = join(dir, `off-${n}`);
        writeFileSync(consoleFile, ''); // the console device exists before the agent writes to it
        const p = procs.start(
          `agent-${tool}`,
          path === bb ? join(bb, 'sh') : 'sh',
          [join(AGENT_ASSETS_DIR, 'ggnet-agent.sh')],
          {
            logFile: join(dir, `agent-${n}.log`),
            env: {
              PATH: path,
              GGNET_URL: `http://127.0.0.1:${port}`,
              GGNET_AGENT_STATE: join(dir, `state-${n}`),
              GGNET_AGENT_CONSOLES: consoleFile,
              GGNET_AGENT_POWEROFF: `touch ${off}`,
            },
          },
        );
        const logOf = () => readFileSync(join(dir, `agent-${n}.log`), 'utf8');
        const online = await waitFor(
          `the ${tool} agent to report`,
          async () => {
            const a = (await b.t.container.machines.get(m.id)).agent;
            return a?.state === 'online' && a.facts ? a : null;
          },
          20_000,
        ).catch((e: Error) => {
          throw new Error(`${e.message}; agent log:\n${logOf()}`);
        });
        expect(online.facts!.osVersion).toContain('Linux');
        expect(online.facts!.uptimeSec).toBeGreaterThan(0);
        expect(online.facts!.memTotalBytes).toBeGreaterThan(0);
        expect(online.facts!.hostname).toBeTruthy();
        expect(readFileSync(join(dir, `state-${n}`, 'token'), 'utf8').trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
        const msg = await send(m.id, { type: 'message', text: `hello "${tool}" \\ ok` });
        expect(msg.statusCode).toBe(202);
        await waitFor(
          'the message on the console',
          () => readFileSync(consoleFile, 'utf8').includes(`*** Message from GGnet: hello "${tool}" \\ ok`),
          20_000,
        ).catch((e: Error) => {
          throw new Error(
            `${e.message}; agent log:\n${logOf()}\nconsole: ${readFileSync(consoleFile, 'utf8')}`,
          );
        });
        expect((await send(m.id, { type: 'shutdown' })).statusCode).toBe(202);
        await waitFor('the agent to power off', () => existsSync(off), 20_000);
        const cmds = (
          await b.t.app.inject({
            url: `/api/v1/machines/${m.id}/agent/commands`,
            headers: await b.t.auth('viewer'),
          })
        ).json().items;
        expect(cmds.map((c: { type: string; state: string }) => `${c.type}:${c.state}`)).toEqual([
          'shutdown:done',
          'message:done',
        ]);
        // the PC boots again (a new session from the same address): the old token answers 401, the
        // agent drops it and claims the new session's token (the fake starter ended the old session
        // in the database; what the orchestrator publishes then wakes the agent's poll)
        const old = (await b.t.container.machines.get(m.id)).sessionId!;
        expect(result(await bootClient(b.t).boot(m.mac, '127.0.0.1'))).toBe('boot');
        const fresh = (await b.t.container.machines.get(m.id)).sessionId!;
        expect(fresh).not.toBe(old);
        b.t.container.bus.publish('session.ended', old, null);
        await waitFor(
          `the ${tool} agent to claim the new session`,
          async () => {
            const a = (await b.t.container.machines.get(m.id)).agent;
            return a?.sessionId === fresh && a.state === 'online' && a.facts ? a : null;
          },
          20_000,
        ).catch((e: Error) => {
          throw new Error(`${e.message}; agent log:\n${logOf()}`);
        });
        expect(logOf()).toContain('the token died with its session; claiming again');
        await p.stop();
      }
    } finally {
      await procs.stopAll();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
