import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry, BootEvent, Page, Session, Target } from '@ggnet/contracts';
import { DnsmasqDaemon } from '../../src/adapters/dnsmasq/dnsmasq.adapter.js';
import { FakeBootSessionStarter } from '../../src/modules/boot/boot-session.fake.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { HostPeer, VethPair, netnsUnavailable, udhcpc, writeUdhcpcScript } from '../helpers/netns.js';
import {
  QemuIoSession,
  closeIscsiContext,
  freeControlPort,
  freePort,
  seedImage,
  tool,
  type SeededImage,
} from '../helpers/iscsi.js';

const skip = netnsUnavailable();
const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

/** What a sanboot script hands out: initiator, CHAP, target (the first URI). */
function parseScript(body: string) {
  const get = (re: RegExp) => re.exec(body)?.[1] ?? null;
  const uri = /sanboot iscsi:([^:]+)::(\d+):([0-9a-f]+):(\S+) \|\|/.exec(body);
  return {
    initiator: get(/^set initiator-iqn (\S+)$/m),
    user: get(/^set username (\S+)$/m),
    password: get(/^set password (\S+)$/m),
    host: uri?.[1] ?? null,
    port: uri ? Number(uri[2]) : null,
    lun: uri ? parseInt(uri[3]!, 16) : null,
    iqn: uri?.[4] ?? null,
  };
}
type Creds = { initiator: string; user: string; password: string };

/**
 * Issue 10, points 1 and 2, against a real tgtd and real initiators from two addresses: this host
 * (the victim PC) and a network namespace joined to it by a veth pair (a second PC on the boot LAN).
 * The tgtd portal listens on the host end of the pair. Script requests go through the real app with
 * the client address set (inject); iSCSI logins come from the real addresses.
 */
(skip ? describe.skip : describe)(
  `boot LAN trust: sessions, takeover, fixed IPs (tgtd, two addresses)${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    describeEachDialect('boot trust (tgtd)', (dialect) => {
      let t: TestContext;
      let peer: HostPeer;
      let portalPort: number;
      let controlPort: number;
      let img: SeededImage;
      let HOST: string;
      let PEER: string;

      beforeAll(async () => {
        peer = new HostPeer();
        peer.up();
        HOST = peer.hostAddr;
        PEER = peer.peerAddr;
        portalPort = await freePort();
        controlPort = freeControlPort();
        t = await createTestContext(dialect, {
          config: {
            tgtControlPort: controlPort,
            settings: { iscsi: { portal: `${HOST}:${portalPort}`, daemons: 1 } },
          },
        });
        await t.container.settings.update({ storage: { reserveBytes: 0 } }, 'test');
        await t.container.iscsi.start();
        img = await seedImage(t.container, 'trust-image', { sizeMiB: 16, dataMiB: 2 });
      });

      afterAll(() => closeIscsiContext(t, controlPort, () => peer?.down()));

      const boot = (m: string, ip: string) =>
        t.app.inject({
          url: `/boot/ipxe?mac=${encodeURIComponent(m)}&arch=x86_64&platform=efi`,
          remoteAddress: ip,
          headers: { host: `${HOST}:8080` },
        });
      const api = async <T>(url: string): Promise<T> => {
        const r = await t.app.inject({ url, headers: await t.auth() });
        expect(r.statusCode, url).toBe(200);
        return r.json<T>();
      };
      const machine = (name: string, ip?: string) =>
        t.container.machines.create({ name, mac: mac(), bootImageId: img.imageId, ...(ip ? { ip } : {}) });
      const driver = async () => (await t.container.iscsi.pool())!.member(0);
      const liveTarget = async (iqn: string) => (await (await driver()).list()).find((x) => x.iqn === iqn);
      const opts = (iqn: string, c: Creds) =>
        [
          'driver=iscsi',
          'transport=tcp',
          `portal=${HOST}:${portalPort}`,
          `target=${iqn}`,
          'lun=1',
          `initiator-name=${c.initiator}`,
          `user=${c.user}`,
          `password=${c.password}`,
        ].join(',');
      const url = (iqn: string, c: Creds) =>
        `iscsi://${encodeURIComponent(c.user)}%${c.password}@${HOST}:${portalPort}/${iqn}/1`;
      /** iscsi-inq from this host (source HOST) or from the second PC (source PEER). */
      const inq = (from: 'host' | 'peer', iqn: string, c: Creds) =>
        from === 'host'
          ? tool('iscsi-inq', ['-i', c.initiator, url(iqn, c)], 20_000)
          : tool('ip', peer.exec('iscsi-inq', ['-i', c.initiator, url(iqn, c)]), 20_000);
      const refusals = async (m: string) =>
        (await api<Page<BootEvent>>(`/api/v1/boot/events?mac=${encodeURIComponent(m)}&kind=refused`)).items;

      it('a second address gets neither the script nor the session of a logged-in PC; the PC keeps its disk', async () => {
        const m = await machine('trust-victim');
        const published: string[] = [];
        const unsubscribe = t.container.bus.subscribe((e) => published.push(e.type));
        const first = await boot(m.mac, HOST);
        expect(first.headers['x-ggnet-boot-result']).toBe('boot');
        const s1 = parseScript(first.body) as Creds & { iqn: string; host: string };
        expect(s1.host).toBe(HOST);
        const sessionId = (await t.container.machines.get(m.id)).sessionId!;
        const victim = new QemuIoSession(opts(s1.iqn, s1));
        try {
          await victim.cmd('write -P 0x5a 0 64k', /wrote 65536\/65536/);
          expect((await liveTarget(s1.iqn))!.connections.map((c) => c.address)).toEqual([HOST]);

          // the second PC asks for the victim's MAC
          const r = await boot(m.mac, PEER);
          expect(r.statusCode).toBe(200);
          expect(r.headers['x-ggnet-boot-result']).toBe('refused');
          expect(r.body).toContain('boot refused: trust-victim is running on another PC');
          expect(r.body).not.toContain(s1.password);
          expect(r.body).not.toMatch(/set (username|password)|sanboot/);
          // untouched: same session, same target, the victim still logged in and reading its data
          expect((await t.container.machines.get(m.id)).sessionId).toBe(sessionId);
          expect((await t.container.sessions.get(sessionId)).state).not.toBe('ended');
          expect((await liveTarget(s1.iqn))!.connections.map((c) => c.address)).toEqual([HOST]);
          await victim.cmd('read -P 0x5a 0 64k', /read 65536\/65536/);
          expect((await t.container.machines.get(m.id)).lastIp).not.toBe(PEER);

          // boot.refused: a boot event (timeline + console), the audit log, the event bus
          const ev = await refusals(m.mac);
          expect(ev).toHaveLength(1);
          expect(ev[0]).toMatchObject({
            machineId: m.id,
            sessionId,
            detail: { reason: 'in_use', ip: PEER, owner: HOST },
          });
          expect((await api<{ items: BootEvent[] }>(`/api/v1/sessions/${sessionId}/timeline`)).items).toEqual(
            expect.arrayContaining([expect.objectContaining({ kind: 'refused' })]),
          );
          const audit = await api<Page<AuditEntry>>('/api/v1/audit?action=boot.refused');
          expect(audit.items[0]).toMatchObject({
            action: 'boot.refused',
            path: '/boot/ipxe',
            targetType: 'machine',
            targetId: m.id,
            ip: PEER,
            statusCode: 403,
            username: null,
          });
          expect(published).toEqual(expect.arrayContaining(['boot.event', 'boot.refused']));

          // the same with the victim's address as well (a copy of MAC and IP): its connection still
          // answers tgtd's pings, so this is not the victim rebooting: refused too
          const copy = await boot(m.mac, HOST);
          expect(copy.headers['x-ggnet-boot-result']).toBe('refused');
          expect((await t.container.machines.get(m.id)).sessionId).toBe(sessionId);
          await victim.cmd('read -P 0x5a 0 64k', /read 65536\/65536/);
          expect((await refusals(m.mac))[0]?.detail).toMatchObject({ reason: 'in_use', ip: HOST });

          // the victim hangs (a PC that was reset: its connection no longer answers) and asks again
          // from its address: that is the PC rebooting, it gets a new session
          process.kill(victim.child.pid!, 'SIGSTOP');
          const again = await boot(m.mac, HOST);
          expect(again.headers['x-ggnet-boot-result']).toBe('boot');
          const s2 = parseScript(again.body) as Creds & { iqn: string };
          const next = (await t.container.machines.get(m.id)).sessionId!;
          expect(next).not.toBe(sessionId);
          expect((await t.container.sessions.get(sessionId)).endReason).toBe('rebooted');

          // a secret seen once is worth nothing afterwards: the old user and secret fail on the new
          // target (its account is gone from tgtd), from either address; the new ones work
          expect(s2.user).not.toBe(s1.user);
          expect(s2.password).not.toBe(s1.password);
          expect(await (await driver()).accounts()).not.toContain(s1.user);
          expect((await inq('host', s2.iqn, s1)).exitCode).not.toBe(0);
          expect((await inq('peer', s2.iqn, s1)).exitCode).not.toBe(0);
          expect((await inq('host', s2.iqn, { ...s1, user: s2.user })).exitCode).not.toBe(0);
          expect((await inq('host', s2.iqn, s2)).exitCode).toBe(0);

          // no API shape shows the past secret; the live one only to an admin who asks for it
          const shapes = [
            await api(`/api/v1/machines`),
            await api(`/api/v1/machines/${m.id}`),
            await api(`/api/v1/sessions?machineId=${m.id}`),
            await api(`/api/v1/sessions/${sessionId}`),
            await api(`/api/v1/sessions/${sessionId}/timeline`),
            await api(`/api/v1/targets?reveal=true`),
            await api(`/api/v1/boot/events?mac=${encodeURIComponent(m.mac)}`),
            await api(`/api/v1/audit`),
          ].map((x) => JSON.stringify(x));
          for (const text of shapes) expect(text).not.toContain(s1.password);
          const targets = await api<Page<Target>>(`/api/v1/targets?reveal=true`);
          const current = targets.items.find((x) => x.sessionId === next)!;
          expect(current.chapSecret).toBe(s2.password);
          expect(JSON.stringify(await api(`/api/v1/targets`))).not.toContain(s2.password);
          expect(JSON.stringify(await api(`/api/v1/machines/${m.id}`))).not.toMatch(/chap|secret|password/i);
        } finally {
          unsubscribe();
          if (victim.child.pid) {
            try {
              process.kill(victim.child.pid, 'SIGKILL');
            } catch {
              /* gone */
            }
          }
        }
      });

      it('the OpenAPI document has no secret in the machine and session shapes', async () => {
        const doc = (await t.app.inject({ url: '/api/openapi.json' })).json<{
          paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
        }>();
        for (const p of [
          '/api/v1/machines',
          '/api/v1/machines/{id}',
          '/api/v1/sessions',
          '/api/v1/sessions/{id}',
        ]) {
          const text = JSON.stringify(doc.paths[p]?.get?.responses ?? null);
          expect(text, p).not.toBe('null');
          expect(text, p).not.toMatch(/chap|secret|password/i);
        }
      });

      it('the same PC asking again before it logged in gets the same session: no restart, no new disk', async () => {
        const m = await machine('trust-repeat');
        const first = parseScript((await boot(m.mac, HOST)).body);
        const sessionId = (await t.container.machines.get(m.id)).sessionId!;
        const writebackId = (await t.container.sessions.get(sessionId)).writebackId;
        // iPXE's retries, a PC that was reset before it logged in, a DHCP server that hands the URL twice
        for (let i = 0; i < 10; i++) {
          const r = await boot(m.mac, HOST);
          expect(r.headers['x-ggnet-boot-result']).toBe('boot');
          expect(parseScript(r.body)).toEqual(first);
        }
        const sessions = await api<Page<Session>>(`/api/v1/sessions?machineId=${m.id}`);
        expect(sessions.items.map((s) => s.id)).toEqual([sessionId]);
        expect((await t.container.sessions.get(sessionId)).writebackId).toBe(writebackId);
        // another address meanwhile: refused, the booting PC is not disturbed
        const other = await boot(m.mac, PEER);
        expect(other.headers['x-ggnet-boot-result']).toBe('refused');
        expect(other.body).toContain('is booting on another PC');
        expect((await refusals(m.mac))[0]?.detail).toMatchObject({
          reason: 'booting',
          ip: PEER,
          owner: HOST,
        });
        expect((await t.container.machines.get(m.id)).sessionId).toBe(sessionId);
        expect((await inq('host', first.iqn!, first as Creds)).exitCode).toBe(0);
      });

      it('a machine with a fixed IP: only that address gets a script, and the target lets no other address in', async () => {
        const m = await machine('trust-fixed', HOST);
        const refused = await boot(m.mac, PEER);
        expect(refused.headers['x-ggnet-boot-result']).toBe('refused');
        expect(refused.body).toContain('boots only from its own address');
        expect((await refusals(m.mac))[0]?.detail).toMatchObject({ reason: 'fixed_ip', ip: PEER });
        expect((await t.container.machines.get(m.id)).sessionId).toBeNull();

        const ok = await boot(m.mac, HOST);
        expect(ok.headers['x-ggnet-boot-result']).toBe('boot');
        const s = parseScript(ok.body) as Creds & { iqn: string };
        expect(await liveTarget(s.iqn)).toMatchObject({ addresses: [HOST], initiators: [] });

        // from the second PC, with the right initiator name and the right secret: tgtd refuses the
        // login itself. Watch the target's live state the whole time: no connection ever appears.
        let watching = true;
        const seen = new Set<string>();
        const watcher = (async () => {
          while (watching) {
            for (const c of (await liveTarget(s.iqn))?.connections ?? []) seen.add(c.address);
            await new Promise((ok) => setTimeout(ok, 20));
          }
        })();
        try {
          const login = await inq('peer', s.iqn, s);
          expect(login.exitCode).not.toBe(0);
          const read = await tool(
            'ip',
            peer.exec('qemu-img', ['convert', '--image-opts', opts(s.iqn, s), '-O', 'raw', '/dev/null']),
            60_000,
          );
          expect(read.exitCode).not.toBe(0);
          // discovery from there does not even list the target
          const portal = `iscsi://${HOST}:${portalPort}`;
          const ls = await tool('ip', peer.exec('iscsi-ls', ['-i', s.initiator, portal]), 20_000);
          expect(ls.stdout).not.toContain(s.iqn);
          expect((await tool('iscsi-ls', ['-i', s.initiator, portal], 20_000)).stdout).toContain(s.iqn);
        } finally {
          watching = false;
          await watcher;
        }
        expect(seen.has(PEER)).toBe(false);
        // the machine itself, from its address: in
        expect((await inq('host', s.iqn, s)).exitCode).toBe(0);
        await t.container.sessionMonitor.tick();
        const timeline = await t.container.sessions.timeline(
          (await t.container.machines.get(m.id)).sessionId!,
        );
        expect(timeline.filter((e) => e.kind === 'error')).toEqual([]);
      });
    });
  },
);

(skip ? describe.skip : describe)(
  `boot LAN trust: dhcp mode checks the lease (real dnsmasq in a namespace)${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    describeEachDialect('boot trust (dhcp leases)', (dialect) => {
      let t: TestContext;
      let net: VethPair;
      let dir: string;
      let starter: FakeBootSessionStarter;

      beforeEach(async () => {
        net = new VethPair('52:54:00:77:10:01');
        net.up();
        dir = mkdtempSync(join(tmpdir(), 'ggnet-trust-dhcp-'));
        writeUdhcpcScript(join(dir, 'udhcpc.sh'));
        const daemon = new DnsmasqDaemon({
          dir: join(dir, 'dnsmasq'),
          log: pino({ level: process.env.GGNET_TEST_LOG ?? 'silent' }),
          wrap: ['ip', 'netns', 'exec', net.server],
          healthIntervalMs: 500,
        });
        starter = new FakeBootSessionStarter(null);
        t = await createTestContext(dialect, {
          container: {
            dnsmasq: daemon,
            bootSessions: {
              startSession: (r) => starter.startSession(r),
              resumeSession: (id) => starter.resumeSession(id),
            },
          },
        });
        starter = new FakeBootSessionStarter(t.container.database.db);
      });
      afterEach(async () => {
        await t?.container.dhcp.stop().catch(() => undefined);
        await t?.close();
        net.down();
        rmSync(dir, { recursive: true, force: true });
      });

      it('a script request for a MAC from an address GGnet did not lease to that MAC is refused', async () => {
        const image = await seedImage(t.container, 'lease-image', { sizeMiB: 1, dataMiB: 1 });
        await t.container.settings.update(
          {
            network: { bootAddr: net.serverAddr },
            dhcp: {
              mode: 'dhcp',
              iface: net.serverIface,
              rangeStart: '10.77.0.100',
              rangeEnd: '10.77.0.120',
              leaseTimeSec: 600,
            },
            machines: { autoRegister: 'pending' },
          },
          'test',
        );
        await t.container.dhcp.start();
        const m = await t.container.machines.create({
          name: 'lease-pc',
          mac: net.clientMac,
          bootImageId: image.imageId,
        });
        const leased = (await udhcpc(net, join(dir, 'udhcpc.sh')))?.ip;
        expect(leased).toMatch(/^10\.77\.0\.(1[01]\d|120)$/);
        const boot = (m: string, ip: string) =>
          t.app.inject({
            url: `/boot/ipxe?mac=${encodeURIComponent(m)}&arch=x86_64&platform=efi`,
            remoteAddress: ip,
            headers: { host: `${net.serverAddr}:8080` },
          });

        // another address of the segment (a PC that set the victim's MAC in its boot URL only)
        const other = leased === '10.77.0.119' ? '10.77.0.118' : '10.77.0.119';
        const refused = await boot(m.mac, other);
        expect(refused.headers['x-ggnet-boot-result']).toBe('refused');
        expect(refused.body).toContain(`boot refused: ${other} was not given to ${m.mac}`);
        expect((await t.container.machines.get(m.id)).sessionId).toBeNull();
        expect(starter.requests).toHaveLength(0);
        // the PC the lease belongs to boots
        const ok = await boot(m.mac, leased!);
        expect(ok.headers['x-ggnet-boot-result']).toBe('boot');
        // the leased PC cannot speak for other MACs either: not even an unknown MAC gets registered
        const stranger = await boot('52:54:00:77:10:99', leased!);
        expect(stranger.headers['x-ggnet-boot-result']).toBe('refused');
        expect(await t.container.machines.findByMac('52:54:00:77:10:99')).toBeNull();
        const ev = (await t.container.boot.events({ limit: 50, offset: 0, kind: 'refused' })).items;
        expect(ev.map((e) => [e.mac, e.detail.reason, e.detail.ip])).toEqual(
          expect.arrayContaining([
            [m.mac, 'not_leased', other],
            ['52:54:00:77:10:99', 'not_leased', leased],
          ]),
        );
      });
    });
  },
);
